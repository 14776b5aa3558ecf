/**
 * Messages between the bench coordinator and its client groups. A group is a
 * worker thread (up to ~15,000 connections in all) or a forked child process
 * (above that: each process may hold at most 20,000 file descriptors, so the
 * connections are spread over processes, each binding its own 127.0.0.x).
 *
 * Times that cross a thread or process boundary are epoch milliseconds with a
 * fractional part (`performance.timeOrigin + performance.now()`), so every
 * group and the coordinator share one clock.
 */

export interface GroupSpec {
  group: number;
  url: string;
  connections: number;
  /** Connection attempts started per second by this group. */
  ratePerSec: number;
  /** Handshakes in progress at once, at most. */
  maxPending: number;
  /** Requests (echo round trips) kept in flight per connection. */
  inflight: number;
  /** Bytes per message (binary). */
  size: number;
  /** Source address to bind (a 127.0.0.x), or none. */
  localAddress?: string | undefined;
  /** Give up on a handshake after this long. */
  connectTimeoutMs: number;
}

export type ToGroup =
  | { type: 'open'; spec: GroupSpec }
  /** Echo load: stop sending at `durationMs` or after `messages` sends (0 = no count limit). */
  | { type: 'load'; durationMs: number; messages: number }
  /**
   * Drain: keep `inflight` requests going on each connection until the server
   * closes it. The first sends are spread over `staggerMs` so that, at the
   * signal, requests sit at every stage of a handler that takes that long.
   */
  | { type: 'arm'; staggerMs: number }
  /** The server was sent SIGTERM at `at` (epoch ms): stop starting requests. */
  | { type: 'signaled'; at: number }
  /** Report the drain now, whatever is still open (it is counted). */
  | { type: 'finish' }
  /** Terminate every connection and exit. */
  | { type: 'exit' };

export interface OpenReport {
  opened: number;
  failed: number;
  errors: Record<string, number>;
  /** Epoch ms of the first attempt and of the last successful open. */
  startedAt: number;
  lastOpenAt: number;
}

export interface LoadReport {
  sent: number;
  received: number;
  /** Epoch ms: first send, last reply. */
  startedAt: number;
  endedAt: number;
  /** Round-trip latency in microseconds, hdr-histogram compressed base64. */
  histogram: string;
  closeCodes: Record<string, number>;
  errors: Record<string, number>;
}

export interface DrainGroupReport {
  connections: number;
  requestsSent: number;
  repliesReceived: number;
  /** Requests sent before the signal that never got a reply. */
  repliesLost: number;
  /** Requests sent after the signal (before this client learned of it) that got no reply. */
  unansweredAfterSignal: number;
  /** How long before the signal the newest and the oldest lost request were sent (ms; 0 when none lost). */
  lostAgeMinMs: number;
  lostAgeMaxMs: number;
  closeCodes: Record<string, number>;
  /** Epoch ms; 0 when none. */
  firstCloseFrameAt: number;
  lastCloseFrameAt: number;
  lastClosedAt: number;
  /** Connections still open when the report was asked for. */
  stillOpen: number;
  /** Event-loop utilization of this group's thread from the signal to the report (0..1): near 1, the clients were the bottleneck. */
  clientLoopUtilization: number;
  errors: Record<string, number>;
}

export type FromGroup =
  | { type: 'opened'; group: number; report: OpenReport }
  | { type: 'armed'; group: number }
  | { type: 'first-close'; group: number; at: number }
  | { type: 'load-result'; group: number; report: LoadReport }
  | { type: 'drain-result'; group: number; report: DrainGroupReport }
  | { type: 'failed'; group: number; message: string };

export function assertNever(x: never, where: string): never {
  throw new Error(`this should not happen: ${where} got ${JSON.stringify(x)}`);
}

/** Wall-clock milliseconds with sub-millisecond precision, comparable across threads and processes. */
export function epochNow(): number {
  return performance.timeOrigin + performance.now();
}

export function bump(counts: Record<string, number>, key: string | number, by = 1): void {
  const k = String(key);
  counts[k] = (counts[k] ?? 0) + by;
}

export function mergeCounts(into: Record<string, number>, from: Record<string, number>): Record<string, number> {
  for (const [k, v] of Object.entries(from)) bump(into, k, v);
  return into;
}
