/**
 * Keeps a socket's outgoing frames under the server's `maxMessagesPerSecond`
 * (from its hello), which closes a faster socket with 1008: a reconnect that
 * resubscribes 200 topics and resends 500 queued publishes must not earn
 * that close and loop. Frames beyond the budget of the current one-second
 * window wait, in order, for the next window. With no limit (0) every frame
 * goes out at once.
 */

/** Share of the server's limit the client uses, leaving room for clock skew between the two windows. */
const HEADROOM = 0.8;
const WINDOW_MS = 1_000;

export class Pacer {
  readonly #budget: number;
  #windowStart = 0;
  #sentInWindow = 0;
  readonly #waiting: string[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;

  readonly #write: (frame: string) => void;

  constructor(perSecond: number, write: (frame: string) => void) {
    this.#write = write;
    this.#budget = perSecond > 0 ? Math.max(1, Math.floor(perSecond * HEADROOM)) : Number.POSITIVE_INFINITY;
  }

  /** Frames waiting for a later window. */
  get backlog(): number {
    return this.#waiting.length;
  }

  send(frame: string): void {
    if (this.#waiting.length > 0 || !this.#take()) {
      this.#waiting.push(frame);
      this.#arm();
      return;
    }
    this.#write(frame);
  }

  /** Drops what waits (the socket is gone). */
  stop(): void {
    this.#waiting.length = 0;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #take(): boolean {
    const now = Date.now();
    if (now - this.#windowStart >= WINDOW_MS) {
      this.#windowStart = now;
      this.#sentInWindow = 0;
    }
    if (this.#sentInWindow >= this.#budget) return false;
    this.#sentInWindow++;
    return true;
  }

  #arm(): void {
    if (this.#timer !== undefined) return;
    const wait = Math.max(0, this.#windowStart + WINDOW_MS - Date.now());
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      while (this.#waiting.length > 0 && this.#take()) this.#write(this.#waiting.shift() as string);
      if (this.#waiting.length > 0) this.#arm();
    }, wait);
  }
}
