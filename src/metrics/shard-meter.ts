/**
 * The shard thread's side of the metrics: plain increments into its own slot
 * of shared memory (layout.ts). No prom-client here, no allocation, no
 * Atomics: this thread is the slot's only writer, and the primary only reads.
 *
 * Costs on the message path (measured here, OPS-NOTES §5): a Float64Array
 * increment ~4 ns; `performance.now()` ~100 ns, which is why hook durations
 * are timed for one call in `sampleEvery` only.
 *
 * With metrics off the shard still counts, into private memory nobody reads:
 * the message path has no branch on "metrics on?" and costs the same.
 */
import {
  C,
  G,
  HIST_BASE,
  HIST_CELLS,
  HOOK_BUCKETS,
  HOOKS,
  SLOT_LENGTH,
  UPGRADE_REJECTIONS,
  serverCloseIndex,
  type HookName,
  type MetricsInit,
  type UpgradeRejection,
} from './layout.js';

/** `sentClose` of a connection shardline has not closed (layout.ts uses -1 for "cut without a close frame"). */
export const NOT_CLOSED_BY_SERVER = -2;

const HOOK_INDEX = Object.fromEntries(HOOKS.map((h, i) => [h, i])) as Record<HookName, number>;
const REJECTION_INDEX = Object.fromEntries(UPGRADE_REJECTIONS.map((r, i) => [r, i])) as Record<UpgradeRejection, number>;

/** What ShardMeter.sync copies: the shard's existing drain-report counters. */
export interface SyncedStats {
  messagesQueued: number;
  messagesDropped: number;
  slowConsumerCloses: number;
}

export class ShardMeter {
  /** The slot's cells, indexed by C / G / HIST_BASE (a view on the shared buffer). */
  readonly c: Float64Array;
  /** sampleEvery - 1 (a power of two minus one); -1 = never sample. */
  private readonly mask: number;
  private tick = 0;

  constructor(init: MetricsInit | undefined) {
    this.c =
      init !== undefined && init.buffer !== null && init.slot >= 0
        ? new Float64Array(init.buffer, init.slot * SLOT_LENGTH * Float64Array.BYTES_PER_ELEMENT, SLOT_LENGTH)
        : new Float64Array(SLOT_LENGTH);
    const every = init?.buffer != null ? init.sampleEvery : 0;
    this.mask = every > 0 ? 2 ** Math.ceil(Math.log2(every)) - 1 : -1;
  }

  opened(connections: number): void {
    this.c[C.CONNECTIONS_OPENED]!++;
    this.c[G.CONNECTIONS] = connections;
  }

  /**
   * A socket closed. `sentClose` is the close code shardline sent (-1: cut
   * without a frame), or NOT_CLOSED_BY_SERVER; `code` is what uWS reported.
   */
  closed(sentClose: number, code: number, connections: number): void {
    const c = this.c;
    c[G.CONNECTIONS] = connections;
    if (sentClose !== NOT_CLOSED_BY_SERVER) {
      c[C.CLOSED_BY]!++;
      c[C.SERVER_CLOSE + serverCloseIndex(sentClose)]!++;
    } else if (code === 1006) {
      c[C.CLOSED_BY + 2]!++; // abnormal: no close frame (peer vanished, idle timeout, cut by uWS)
    } else {
      c[C.CLOSED_BY + 1]!++; // the client's close frame (1005: one without a code)
    }
  }

  received(bytes: number): void {
    this.c[C.MESSAGES_RECEIVED]!++;
    this.c[C.BYTES_RECEIVED]! += bytes;
  }

  sent(bytes: number): void {
    this.c[C.MESSAGES_SENT]!++;
    this.c[C.BYTES_SENT]! += bytes;
  }

  rejected(reason: UpgradeRejection): void {
    this.c[C.UPGRADES_REJECTED + REJECTION_INDEX[reason]]!++;
  }

  hookFailed(hook: HookName): void {
    this.c[C.HOOK_ERRORS + HOOK_INDEX[hook]]!++;
  }

  /** True for one call in sampleEvery: the caller then times the hook and calls observeHook. */
  sample(): boolean {
    return this.mask >= 0 && (++this.tick & this.mask) === 0;
  }

  observeHook(hook: HookName, seconds: number): void {
    const base = HIST_BASE + HOOK_INDEX[hook] * HIST_CELLS;
    let b = 0;
    while (b < HOOK_BUCKETS.length && seconds > (HOOK_BUCKETS[b] as number)) b++;
    this.c[base + b]!++;
    this.c[base + HOOK_BUCKETS.length + 1]! += seconds;
  }

  /** Each heartbeat: the counters the shard keeps for its drain report, and the queue gauge. */
  sync(stats: SyncedStats, writeQueueBytes: number, lagSeconds: number): void {
    const c = this.c;
    c[C.MESSAGES_QUEUED] = stats.messagesQueued;
    c[C.MESSAGES_DROPPED] = stats.messagesDropped;
    c[C.SLOW_CONSUMER_CLOSES] = stats.slowConsumerCloses;
    c[G.WRITE_QUEUE_BYTES] = writeQueueBytes;
    c[G.LOOP_LAG_SECONDS] = lagSeconds;
  }

  heap(used: number, limit: number): void {
    this.c[G.HEAP_USED_BYTES] = used;
    this.c[G.HEAP_LIMIT_BYTES] = limit;
  }
}
