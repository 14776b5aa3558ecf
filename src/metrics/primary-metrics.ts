/**
 * The metrics of one shardline process, on the primary thread: prom-client's
 * Registry with Node's default process metrics (collected here only: summing
 * them per thread would multiply process_* figures), the shard slots in
 * shared memory (slot-pool.ts, shard-series.ts), and the primary's own series.
 *
 * Other primary code adds its series through counter() / gauge() /
 * histogram(), which return ordinary prom-client metrics in this registry:
 *
 *   const lag = server.metrics.histogram({ name: 'shardline_broker_publish_seconds', help: '...', buckets: [...] });
 *   lag.observe(seconds);
 *
 * They work the same whether metrics.port is set or not (nothing is served
 * then), so callers need no branch.
 */
import { readFileSync } from 'node:fs';
import type { Worker } from 'node:worker_threads';
import type { EventLoopUtilization } from 'node:perf_hooks';
import {
  Counter,
  Gauge,
  Histogram,
  Registry,
  collectDefaultMetrics,
  type CounterConfiguration,
  type GaugeConfiguration,
  type HistogramConfiguration,
} from 'prom-client';
import { ErrorCode } from '../errors.js';
import type { MetricsInit } from './layout.js';
import { registerShardSeries } from './shard-series.js';
import { SharedMetric, type MetricValue } from './shared-metric.js';
import { SlotPool } from './slot-pool.js';

/** What the metrics read from the server at scrape time. */
export interface MetricsSource {
  /** Phase in the shared state: 0 starting, 1 ready, 2 draining. */
  phase(): number;
  /** performance.now() when the drain began, 0 before. */
  drainStartedAt(): number;
  /** Milliseconds since each tracked shard's heartbeat last moved. */
  heartbeatAges(): Map<number, number>;
  /** Offload tasks queued or running, and pool threads; null when offloading is off. */
  offload(): { pending: number; threads: number } | null;
  maxConnections: number;
  shards: number;
}

/** Offload outcomes as the `result` label (closed set). */
const OFFLOAD_RESULTS: Record<string, string> = {
  [ErrorCode.OFFLOAD_TASK_FAILED]: 'failed',
  [ErrorCode.OFFLOAD_TIMEOUT]: 'timeout',
  [ErrorCode.OFFLOAD_QUEUE_FULL]: 'queue_full',
  [ErrorCode.OFFLOAD_SHUTTING_DOWN]: 'shutting_down',
  [ErrorCode.OFFLOAD_NOT_CONFIGURED]: 'not_configured',
};

const PHASES = ['starting', 'ready', 'draining'] as const;

interface Tracked {
  shard: number;
  worker: Worker;
  /** The utilisation reading of the previous scrape: the next one is the delta since. */
  elu: EventLoopUtilization;
}

/** shardline's version, from its package.json (dist/src/metrics/ → the package root). */
function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

export interface PrimaryMetricsOptions {
  source: MetricsSource;
  /** True when metrics.port is set: default process metrics are collected only then (their observers cost). */
  enabled: boolean;
  sampleEvery?: number;
}

export class PrimaryMetrics {
  readonly registry = new Registry();
  readonly pool: SlotPool;
  /**
   * `shardline_config_last_reload_successful`: 1 until a reload fails. The
   * SIGHUP roll sets it (and lastReloadAt, seconds since the epoch) after each reload.
   */
  lastReloadSuccessful = true;
  lastReloadAt = 0;

  private readonly tracked = new Map<Worker, Tracked>();
  private readonly enabled: boolean;
  private readonly restarts: Counter;
  private readonly offloadTasks: Counter;
  private readonly shardDrains: Histogram;

  constructor(opts: PrimaryMetricsOptions) {
    const src = opts.source;
    this.enabled = opts.enabled;
    this.pool = new SlotPool(src.shards, opts.sampleEvery);
    if (opts.enabled) collectDefaultMetrics({ register: this.registry });
    registerShardSeries(this.registry, this.pool);
    const add = (name: string, help: string, type: 'gauge' | 'counter', read: () => MetricValue[]): void =>
      this.registry.registerMetric(new SharedMetric({ name, help, type, read }) as never);

    this.gauge({ name: 'shardline_build_info', help: 'Always 1; the labels say which shardline and Node run.', labelNames: ['version', 'node'] }).set(
      { version: packageVersion(), node: process.version },
      1,
    );
    add('shardline_ready', '1 while the node accepts connections (/readyz 200), else 0.', 'gauge', () => [{ labels: {}, value: src.phase() === 1 ? 1 : 0 }]);
    add('shardline_phase', 'The process phase: 1 for the current one.', 'gauge', () =>
      PHASES.map((phase, k) => ({ labels: { phase }, value: src.phase() === k ? 1 : 0 })),
    );
    add('shardline_drain_duration_seconds', 'Seconds since the drain began; 0 before it.', 'gauge', () => {
      const at = src.drainStartedAt();
      return [{ labels: {}, value: at === 0 ? 0 : (performance.now() - at) / 1000 }];
    });
    add('shardline_shards', 'Shard threads running (a roll briefly runs one more).', 'gauge', () => [{ labels: {}, value: this.tracked.size }]);
    add('shardline_connections_limit', 'limits.maxConnections over every shard; 0 = no limit.', 'gauge', () => [{ labels: {}, value: src.maxConnections }]);
    add('shardline_shard_event_loop_utilization', "Share of time the shard's event loop was busy since the previous scrape (0-1).", 'gauge', () =>
      this.utilisation(),
    );
    add('shardline_shard_heartbeat_age_seconds', "Seconds since the shard's heartbeat last moved; above 5 it is reported stuck.", 'gauge', () =>
      [...src.heartbeatAges()].sort(([a], [b]) => a - b).map(([shard, ms]) => ({ labels: { shard }, value: ms / 1000 })),
    );
    add('shardline_offload_queue_tasks', 'Offload tasks queued or running.', 'gauge', () => [{ labels: {}, value: src.offload()?.pending ?? 0 }]);
    add('shardline_offload_threads', 'Offload pool threads (offload.threads); 0 when offloading is off.', 'gauge', () => [
      { labels: {}, value: src.offload()?.threads ?? 0 },
    ]);
    add('shardline_config_last_reload_successful', '1 if the last configuration reload (SIGHUP) succeeded or none happened, else 0.', 'gauge', () => [
      { labels: {}, value: this.lastReloadSuccessful ? 1 : 0 },
    ]);
    add('shardline_config_last_reload_success_timestamp_seconds', 'When the last successful reload happened (Unix seconds); 0 if none.', 'gauge', () => [
      { labels: {}, value: this.lastReloadAt },
    ]);
    this.restarts = this.counter({ name: 'shardline_shard_restarts_total', help: 'Shard threads replaced after a crash.' });
    this.offloadTasks = this.counter({ name: 'shardline_offload_tasks_total', help: 'Offload tasks by result.', labelNames: ['result'] });
    this.shardDrains = this.histogram({
      name: 'shardline_shard_drain_duration_seconds',
      help: "From a shard's drain start to its report (every socket closed, stop() done), by whether it was forced.",
      labelNames: ['forced'],
      buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120],
    });
  }

  // ---- the small API for other primary code ----------------------------------

  counter<T extends string = string>(cfg: Omit<CounterConfiguration<T>, 'registers'>): Counter<T> {
    return new Counter({ ...cfg, registers: [this.registry] });
  }

  gauge<T extends string = string>(cfg: Omit<GaugeConfiguration<T>, 'registers'>): Gauge<T> {
    return new Gauge({ ...cfg, registers: [this.registry] });
  }

  histogram<T extends string = string>(cfg: Omit<HistogramConfiguration<T>, 'registers'>): Histogram<T> {
    return new Histogram({ ...cfg, registers: [this.registry] });
  }

  // ---- shard lifecycle (called by the primary's supervisor) --------------------

  /** Before spawning a shard thread: its slot, to pass in the thread's init data. */
  allocate(shard: number): MetricsInit {
    // Off: the shard counts into private memory and times nothing.
    if (!this.enabled) return { buffer: null, slot: -1, sampleEvery: 0 };
    return this.pool.allocate(shard);
  }

  /** Once the thread exists: its event-loop utilisation is read from here. */
  track(shard: number, worker: Worker): void {
    this.tracked.set(worker, { shard, worker, elu: worker.performance.eventLoopUtilization() });
  }

  /** The thread has exited: its counts are kept in the retired totals. */
  retire(init: MetricsInit, worker: Worker): void {
    this.tracked.delete(worker);
    if (init.slot >= 0) this.pool.retire(init.slot);
  }

  /** The outcome of a configuration reload (SIGHUP): shardline_config_last_reload_*. */
  reloaded(ok: boolean): void {
    this.lastReloadSuccessful = ok;
    if (ok) this.lastReloadAt = Date.now() / 1000;
  }

  shardRestarted(): void {
    this.restarts.inc();
  }

  offloadDone(outcome: { ok: true } | { ok: false; error: { code: string } }): void {
    this.offloadTasks.inc({ result: outcome.ok ? 'ok' : (OFFLOAD_RESULTS[outcome.error.code] ?? 'failed') });
  }

  shardDrained(report: { durationMs: number; forced: boolean }): void {
    this.shardDrains.observe({ forced: String(report.forced) }, report.durationMs / 1000);
  }

  /** The text exposition of every metric, and its content type. */
  async render(): Promise<{ body: string; contentType: string }> {
    return { body: await this.registry.metrics(), contentType: this.registry.contentType };
  }

  private utilisation(): { labels: { shard: number }; value: number }[] {
    const by = new Map<number, number>();
    for (const t of this.tracked.values()) {
      let now: EventLoopUtilization;
      try {
        now = t.worker.performance.eventLoopUtilization();
      } catch {
        continue; // the thread is exiting
      }
      const delta = t.worker.performance.eventLoopUtilization(now, t.elu);
      t.elu = now;
      by.set(t.shard, Math.max(by.get(t.shard) ?? 0, delta.utilization));
    }
    return [...by].sort(([a], [b]) => a - b).map(([shard, value]) => ({ labels: { shard }, value }));
  }
}
