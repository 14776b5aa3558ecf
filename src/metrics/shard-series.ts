/**
 * The shardline_* series read from the shard slots at scrape time: node-wide
 * counters (summed over live and retired slots, so they survive a shard's
 * replacement) and per-shard gauges (label `shard`, the shard index).
 */
import type { Registry } from 'prom-client';
import { C, CLOSED_BY, G, HIST_BASE, HIST_CELLS, HOOK_BUCKETS, HOOKS, SERVER_CLOSE_CODES, UPGRADE_REJECTIONS } from './layout.js';
import { SharedMetric, histogramValues, type MetricValue } from './shared-metric.js';
import type { SlotPool } from './slot-pool.js';

export function registerShardSeries(registry: Registry, pool: SlotPool): void {
  const add = (m: SharedMetric): void => registry.registerMetric(m as never);
  const counter = (name: string, help: string, i: number): void =>
    add(new SharedMetric({ name, help, type: 'counter', read: () => [{ labels: {}, value: pool.total(i) }] }));
  const labelled = (name: string, help: string, label: string, values: readonly string[], base: number): void =>
    add(
      new SharedMetric({
        name,
        help,
        type: 'counter',
        read: () => values.map((v, k) => ({ labels: { [label]: v }, value: pool.total(base + k) })),
      }),
    );
  const perShard = (name: string, help: string, read: () => Map<number, number>): void =>
    add(
      new SharedMetric({
        name,
        help,
        type: 'gauge',
        read: () => [...read()].sort(([a], [b]) => a - b).map(([shard, value]) => ({ labels: { shard }, value })),
      }),
    );

  perShard('shardline_connections', "Open WebSocket connections, by shard (the size of the shard's connection registry).", () => pool.perShard(G.CONNECTIONS));
  counter('shardline_connections_accepted_total', 'WebSocket connections opened.', C.CONNECTIONS_OPENED);
  labelled(
    'shardline_connections_closed_total',
    "WebSocket connections closed: by=server (shardline sent a close frame or cut the connection), client (the client's close frame), abnormal (lost without a close frame).",
    'by',
    CLOSED_BY,
    C.CLOSED_BY,
  );
  labelled(
    'shardline_server_close_frames_total',
    'Connections closed by shardline, by the close code it sent (3000-4999 from the app as "app"; "none" = cut without a close frame, a forced drain). Client-sent codes are not counted here.',
    'code',
    SERVER_CLOSE_CODES,
    C.SERVER_CLOSE,
  );
  labelled(
    'shardline_upgrades_rejected_total',
    'WebSocket upgrades refused before a socket opened, by reason.',
    'reason',
    UPGRADE_REJECTIONS,
    C.UPGRADES_REJECTED,
  );
  counter('shardline_messages_received_total', 'WebSocket messages received from clients.', C.MESSAGES_RECEIVED);
  counter('shardline_received_bytes_total', 'Payload bytes received from clients (WebSocket framing excluded).', C.BYTES_RECEIVED);
  counter('shardline_messages_sent_total', 'WebSocket messages written to clients (replies and publications).', C.MESSAGES_SENT);
  counter('shardline_sent_bytes_total', 'Payload bytes written to clients (WebSocket framing excluded).', C.BYTES_SENT);
  counter(
    'shardline_messages_queued_total',
    'Messages that waited in a write queue because their socket was backpressured (updated every 250 ms).',
    C.MESSAGES_QUEUED,
  );
  counter(
    'shardline_messages_dropped_total',
    'Messages accepted or published for a socket but never written to it (updated every 250 ms).',
    C.MESSAGES_DROPPED,
  );
  counter(
    'shardline_slow_consumer_closes_total',
    'Sockets closed because their write queue overflowed backpressure.maxQueueBytes (updated every 250 ms).',
    C.SLOW_CONSUMER_CLOSES,
  );
  labelled('shardline_hook_errors_total', 'App hooks that threw or rejected, by hook.', 'hook', HOOKS, C.HOOK_ERRORS);
  add(
    new SharedMetric({
      name: 'shardline_hook_duration_seconds',
      help: 'Duration of app hooks, by hook; one call in 16 per shard and hook kind is timed (an async hook until it settles).',
      type: 'histogram',
      read: () => {
        const out: MetricValue[] = [];
        HOOKS.forEach((hook, h) => {
          const base = HIST_BASE + h * HIST_CELLS;
          const cells = Array.from({ length: HOOK_BUCKETS.length + 1 }, (_, k) => pool.total(base + k));
          out.push(...histogramValues('shardline_hook_duration_seconds', HOOK_BUCKETS, cells, pool.total(base + HOOK_BUCKETS.length + 1), { hook }));
        });
        return out;
      },
    }),
  );
  perShard('shardline_write_queue_bytes', "Bytes waiting in the shard's write queues for backpressured sockets (updated every 250 ms).", () =>
    pool.perShard(G.WRITE_QUEUE_BYTES),
  );
  perShard('shardline_shard_heap_used_bytes', 'V8 heap used by the shard thread.', () => pool.perShard(G.HEAP_USED_BYTES));
  perShard('shardline_shard_heap_limit_bytes', "The shard thread's heap limit (limits.shardHeapMb or V8's).", () => pool.maxPerShard(G.HEAP_LIMIT_BYTES));
  perShard('shardline_shard_event_loop_lag_seconds', "How late the shard's last 250 ms heartbeat timer fired.", () => pool.maxPerShard(G.LOOP_LAG_SECONDS));
}
