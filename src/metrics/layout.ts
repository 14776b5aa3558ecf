/**
 * Layout of one metrics slot in shared memory, and the closed label sets.
 *
 * One SharedArrayBuffer holds `slots` regions of SLOT_LENGTH Float64 values.
 * A shard thread owns exactly one slot (allocated by the primary at spawn,
 * handed over in ShardInit) and is its only writer: it counts with plain
 * `c[i]++` (a few ns; `Atomics` would cost ~6x and is not needed with one
 * writer). The primary only reads, at scrape time, and sums the live slots.
 *
 *   slot s:  [ counters ............ | hook histograms ............ | gauges ...... ]
 *            0                 COUNTERS_END                   GAUGE_BASE     SLOT_LENGTH
 *
 * Counters and histogram cells only ever grow while the slot is live; when its
 * shard exits, the primary folds [0, GAUGE_BASE) into a retired total and
 * zeroes the slot, so every sum it renders is monotonic (SlotPool.retire).
 * Gauges are the shard's latest value and are simply dropped at retirement.
 *
 * Float64 holds integers exactly up to 2^53 (9e15 messages), and an aligned
 * 8-byte store is not torn on the 64-bit platforms Node supports, so a read
 * racing a write sees the old or the new value.
 */

/** Close codes a server sends, as the `code` label (closed set: app codes fold into `app`). */
export const SERVER_CLOSE_CODES = ['1000', '1001', '1008', '1009', '1011', '1012', '1013', 'app', 'other', 'none'] as const;

/** Index of a server-sent close code in SERVER_CLOSE_CODES; -1 (no frame: the TCP connection was cut) is `none`. */
export function serverCloseIndex(code: number): number {
  switch (code) {
    case -1:
      return 9;
    case 1000:
      return 0;
    case 1001:
      return 1;
    case 1008:
      return 2;
    case 1009:
      return 3;
    case 1011:
      return 4;
    case 1012:
      return 5;
    case 1013:
      return 6;
    default:
      return code >= 3000 && code <= 4999 ? 7 : 8;
  }
}

/** Who ended a connection: shardline (close frame or cut), the client (its close frame), or nobody (the peer vanished). */
export const CLOSED_BY = ['server', 'client', 'abnormal'] as const;

/** The app's hooks, as the `hook` label. */
export const HOOKS = ['upgrade', 'open', 'message', 'close', 'stop'] as const;
export type HookName = (typeof HOOKS)[number];

/** Why an upgrade was refused before it became a socket (src/shard/http.ts Rejections, plus `app` for an upgrade hook's false). */
export const UPGRADE_REJECTIONS = ['draining', 'atCapacity', 'badVersion', 'badKey', 'origin', 'unauthorized', 'internal'] as const;
export type UpgradeRejection = (typeof UPGRADE_REJECTIONS)[number];

/**
 * Hook duration buckets, upper bounds in seconds: Centrifugo's command
 * buckets (centrifuge metrics.go) from 100 µs to 10 s. One more cell counts
 * the samples above the last bound (+Inf).
 */
export const HOOK_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;
/** Cells per hook: one per bucket, the +Inf bucket, then the sum of the samples in seconds. */
export const HIST_CELLS = HOOK_BUCKETS.length + 2;

/** Counter indices within a slot (monotonic while the slot is live). */
export const C = {
  CONNECTIONS_OPENED: 0,
  /** + index in CLOSED_BY */
  CLOSED_BY: 1,
  /** + serverCloseIndex(code) */
  SERVER_CLOSE: 1 + CLOSED_BY.length,
  MESSAGES_RECEIVED: 1 + CLOSED_BY.length + SERVER_CLOSE_CODES.length,
  BYTES_RECEIVED: 2 + CLOSED_BY.length + SERVER_CLOSE_CODES.length,
  MESSAGES_SENT: 3 + CLOSED_BY.length + SERVER_CLOSE_CODES.length,
  BYTES_SENT: 4 + CLOSED_BY.length + SERVER_CLOSE_CODES.length,
  /** Copied from the shard's ShardStats on each heartbeat (see ShardMeter.sync). */
  MESSAGES_QUEUED: 5 + CLOSED_BY.length + SERVER_CLOSE_CODES.length,
  MESSAGES_DROPPED: 6 + CLOSED_BY.length + SERVER_CLOSE_CODES.length,
  SLOW_CONSUMER_CLOSES: 7 + CLOSED_BY.length + SERVER_CLOSE_CODES.length,
  /** + index in HOOKS */
  HOOK_ERRORS: 8 + CLOSED_BY.length + SERVER_CLOSE_CODES.length,
  /** + index in UPGRADE_REJECTIONS */
  UPGRADES_REJECTED: 8 + CLOSED_BY.length + SERVER_CLOSE_CODES.length + HOOKS.length,
} as const;

const COUNTERS_END = C.UPGRADES_REJECTED + UPGRADE_REJECTIONS.length;

/** First cell of hook h's histogram: HIST_BASE + h * HIST_CELLS. */
export const HIST_BASE = COUNTERS_END;

/** Gauge indices: the shard's latest value, not summed over time. */
export const GAUGE_BASE = HIST_BASE + HOOKS.length * HIST_CELLS;
export const G = {
  /** Open sockets: the size of the shard's connection registry, written on every open and close. */
  CONNECTIONS: GAUGE_BASE,
  /** Bytes waiting in the shard's JS write queues (refreshed each heartbeat). */
  WRITE_QUEUE_BYTES: GAUGE_BASE + 1,
  HEAP_USED_BYTES: GAUGE_BASE + 2,
  HEAP_LIMIT_BYTES: GAUGE_BASE + 3,
  /** How late the shard's last heartbeat timer fired, in seconds. */
  LOOP_LAG_SECONDS: GAUGE_BASE + 4,
} as const;

export const SLOT_LENGTH = GAUGE_BASE + 5;
export const SLOT_BYTES = SLOT_LENGTH * Float64Array.BYTES_PER_ELEMENT;

/** What a shard is told about its metrics slot at spawn (part of ShardInit). */
export interface MetricsInit {
  /** The pool's buffer, or null when metrics are off (the shard then counts into private memory). */
  buffer: SharedArrayBuffer | null;
  /** The shard's slot in `buffer`. */
  slot: number;
  /** Time one app hook call in this many (a power of two); 0 = never. */
  sampleEvery: number;
}
