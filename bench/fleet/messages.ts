/**
 * Messages between the fleet bench's coordinator (main thread: publisher,
 * phases) and its subscriber threads (bench/fleet/subscriber-worker.ts).
 *
 * Sequence numbers: the publisher numbers publications 1, 2, 3 ... per case.
 * Warm-up publications carry `warm: true` and are not counted. A thread's
 * watermark is the highest seq that every one of its subscribers received
 * (each connection delivers one publisher's messages in order on both
 * systems), which is what the throughput phase's window waits on.
 */

export type ClientKind = 'shardline' | 'socketio';

/** What a publication carries (JSON): the publisher's seq and its send time (epoch ms, fractional). */
export interface Payload {
  seq: number;
  sentAt: number;
  warm?: true;
}

export type ToSubscribers =
  | { type: 'connect'; kind: ClientKind; url: string; topic: string; count: number }
  /** Start counting from `firstSeq` (earlier seqs are ignored): clears the histogram and the CPU meter. */
  | { type: 'phase-start'; firstSeq: number }
  | { type: 'phase-end' }
  | { type: 'close' };

export interface PhaseReport {
  /** Deliveries counted in the phase. */
  received: number;
  /** Subscribers the server closed so far (should stay 0). */
  closedEarly: number;
  /** Deliveries not above their subscriber's previous seq (duplicate or out of order). */
  outOfOrder: number;
  /** Latency (send -> receive) in microseconds, hdr-histogram compressed base64. */
  histogram: string;
  /**
   * Share of the phase this thread's event loop was busy (0..1). On a machine
   * shared with other work this counts time the OS ran something else, so:
   */
  loopUtilization: number;
  /** CPU this thread used, as a share of one core over the phase: near 1 means the client was the bottleneck. */
  cpuShare: number;
}

export type FromSubscribers =
  | { type: 'connected'; failed: number }
  /** Every subscriber has received at least one warm-up publication. */
  | { type: 'warm' }
  /** The thread counts from `firstSeq` now. */
  | { type: 'started' }
  | { type: 'progress'; watermark: number }
  | { type: 'phase-report'; report: PhaseReport }
  | { type: 'closed' }
  | { type: 'error'; message: string };

export function assertNever(x: never, where: string): never {
  throw new Error(`${where}: unexpected message ${JSON.stringify(x)}`);
}

/** Epoch milliseconds with a fractional part: one clock for every thread and process on the machine. */
export function epochNow(): number {
  return performance.timeOrigin + performance.now();
}

/** The latency histograms' range: 1 µs .. 60 s, 3 significant digits. */
export const HISTOGRAM = { lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 } as const;
