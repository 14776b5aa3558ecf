/**
 * Supervision policies of the primary: when to restart a crashed shard, and
 * how to tell a shard whose event loop is stuck.
 */
import { Slot } from '../protocol.js';

/**
 * Exponential backoff per shard (100 ms, 200 ms ... 5 s); more than
 * `maxRestarts` crashes of one shard within `windowMs` is a crash loop.
 */
export class RestartPolicy {
  private readonly crashes = new Map<number, number[]>();
  constructor(
    readonly maxRestarts = 5,
    readonly windowMs = 60_000,
    private readonly baseMs = 100,
    private readonly capMs = 5_000,
  ) {}

  /** Records a crash of `shard`; returns the delay before its restart, or null for a crash loop. */
  next(shard: number, now = performance.now()): number | null {
    const recent = (this.crashes.get(shard) ?? []).filter((t) => now - t < this.windowMs);
    recent.push(now);
    this.crashes.set(shard, recent);
    if (recent.length > this.maxRestarts) return null;
    return Math.min(this.capMs, this.baseMs * 2 ** (recent.length - 1));
  }
}

/**
 * Each shard bumps its slot of the shared state every HEARTBEAT_MS from its
 * event loop; a counter that stops moving for `staleMs` means a stuck loop
 * (an app hook in a synchronous loop, say). No message round trip is needed,
 * so a busy port cannot make a healthy shard look stuck.
 */
export class HeartbeatMonitor {
  private readonly seen = new Map<number, { value: number; at: number; hung: boolean }>();
  constructor(
    private readonly shared: Int32Array,
    private readonly staleMs: number,
    private readonly onChange: (shard: number, hung: boolean, silentMs: number) => void,
  ) {}

  track(shard: number): void {
    this.seen.set(shard, { value: Atomics.load(this.shared, Slot.HEARTBEAT + shard), at: performance.now(), hung: false });
  }

  untrack(shard: number): void {
    this.seen.delete(shard);
  }

  /** Milliseconds since each tracked shard's heartbeat was last seen moving (as of the last tick). */
  ages(now = performance.now()): Map<number, number> {
    return new Map([...this.seen].map(([shard, s]) => [shard, now - s.at]));
  }

  isHung(shard: number): boolean {
    return this.seen.get(shard)?.hung ?? false;
  }

  tick(now = performance.now()): void {
    for (const [shard, s] of this.seen) {
      const value = Atomics.load(this.shared, Slot.HEARTBEAT + shard);
      if (value !== s.value) {
        if (s.hung) this.onChange(shard, false, now - s.at);
        s.value = value;
        s.at = now;
        s.hung = false;
      } else if (!s.hung && now - s.at >= this.staleMs) {
        s.hung = true;
        this.onChange(shard, true, now - s.at);
      }
    }
  }
}
