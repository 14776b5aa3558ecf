/**
 * Messages between the bench coordinator and its client groups. A group is a
 * worker thread or a forked child process (one process may hold at most
 * `ulimit -n` descriptors, so large runs spread connections over processes;
 * plan.ts decides and checks the source addresses).
 *
 * Times that cross a thread or process boundary are epoch milliseconds with a
 * fractional part (`performance.timeOrigin + performance.now()`), so every
 * group and the coordinator share one clock.
 */

export interface GroupSpec {
  group: number;
  /** Echo connections (load, drain) or pub/sub roles (pubsub-group.ts). */
  kind: 'echo' | 'pubsub';
  url: string;
  connections: number;
  /** Connection attempts started per second by this group. */
  ratePerSec: number;
  /** Handshakes in progress at once, at most. */
  maxPending: number;
  /** Closed model and drain: requests (echo round trips) kept in flight per connection. */
  inflight: number;
  /** Bytes per message (binary; at least the 20-byte header of payload.ts). */
  size: number;
  /** Source addresses: connection k of this group binds localAddresses[k % length]. Empty: the kernel chooses. */
  localAddresses: string[];
  /** Give up on a handshake after this long. */
  connectTimeoutMs: number;
}

export interface LoadSpec {
  /** Measured sending time, after the warm-up. */
  durationMs: number;
  /** Sent before the measurement starts; their replies are not recorded. */
  warmupMs: number;
  /** Total messages this group sends in the measured window (0 = until durationMs). */
  messages: number;
  /**
   * Open model: messages per second this group sends on a fixed schedule
   * whatever the replies do, latency measured from each intended send time.
   * 0: closed model, `inflight` per connection, the next sent on each reply.
   */
  ratePerSec: number;
  /** Post a `tick` every second of the measured window. */
  ticks: boolean;
}

/** Pub/sub roles of one group's connections, in connection order: subscribers first. */
export interface PubsubSpec {
  subscribers: number;
  publishers: number;
  /** Global index of this group's first subscriber and first publisher (their ids). */
  firstSubscriber: number;
  firstPublisher: number;
  topics: string[];
  /** Publications per second of each publisher of this group. */
  ratePerPublisher: number;
  durationMs: number;
  /** `{topic}` is replaced by the topic name. */
  subscribeTemplate: string;
  /** `{topic}` by the topic, `{data}` by the JSON marker object (payload.ts). */
  publishTemplate: string;
  /** After the last publication, how long deliveries are awaited. */
  tailMs: number;
}

export type ToGroup =
  | { type: 'open'; spec: GroupSpec }
  | { type: 'load'; spec: LoadSpec }
  | { type: 'pubsub-subscribe'; spec: PubsubSpec }
  | { type: 'pubsub-run' }
  /**
   * Drain: keep `inflight` requests going on each connection until the server
   * closes it. The first sends are spread over `staggerMs` so that, at the
   * signal, requests sit at every stage of a handler that takes that long.
   */
  | { type: 'arm'; staggerMs: number }
  /** The server was sent its signal at `at` (epoch ms): stop starting requests. */
  | { type: 'signaled'; at: number }
  /** Report the drain now, whatever is still open (it is counted). */
  | { type: 'finish' }
  /** The user interrupted the run: stop opening and sending, close every connection with 1000, report. */
  | { type: 'stop' }
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

/** What a group measures about itself over a phase. */
export interface ClientStats {
  /** CPU time (user + system) of this group's process over the phase, ms; 0 for a thread (the coordinator's process counts it). */
  processCpuMs: number;
  /** Event-loop utilization of the group's thread (0..1). */
  loopUtilization: number;
  /** Event-loop delay (perf_hooks.monitorEventLoopDelay), ms. */
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
}

export interface LoadReport {
  sent: number;
  received: number;
  /** Open model: sends that left more than LATE_MS after their intended time. */
  late: number;
  /** The largest send lag behind schedule, ms. */
  maxLagMs: number;
  /** Requests without a reply when the group reported. */
  unanswered: number;
  /** Frames that were not the reply to an outstanding request of ours (server pushes, duplicates). */
  otherFrames: number;
  /** Epoch ms: start of the measured window, last send or reply in it. */
  startedAt: number;
  endedAt: number;
  /** Latency in microseconds, hdr-histogram compressed base64. */
  histogram: string;
  client: ClientStats;
  interrupted: boolean;
  closeCodes: Record<string, number>;
  errors: Record<string, number>;
}

export interface TickReport {
  /** Seconds since the measured window began (1 = the first second). */
  second: number;
  sent: number;
  received: number;
  late: number;
  /** This second's latencies (µs), hdr-histogram compressed base64. */
  histogram: string;
  loopUtilization: number;
  open: number;
}

export interface PubsubReport {
  /** Per topic: publications sent in the window. */
  published: Record<string, number>;
  /** Publish commands that could not be written (socket not open). */
  publishFailed: number;
  /** Per subscriber (in this group's order): its topic, unique deliveries, duplicates, gap events, the largest gap. */
  subscribers: { id: number; topic: string; received: number; duplicates: number; gaps: number; maxGap: number }[];
  /** Subscribers whose subscription was not acknowledged by a frame in time. */
  unacknowledged: number;
  /** Frames without our marker. */
  otherFrames: number;
  /** Publish → receive latency over all deliveries, µs, hdr compressed base64. */
  histogram: string;
  startedAt: number;
  endedAt: number;
  client: ClientStats;
  interrupted: boolean;
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
  | { type: 'tick'; group: number; report: TickReport }
  | { type: 'load-result'; group: number; report: LoadReport }
  | { type: 'pubsub-subscribed'; group: number }
  | { type: 'pubsub-result'; group: number; report: PubsubReport }
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
