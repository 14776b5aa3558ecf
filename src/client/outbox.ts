/**
 * The outbox: every publish waits here from the call until the server's
 * acknowledgement, in call order.
 *
 *   publish() --add--> [queued] --sent on a live socket--> [inflight] --reply ok--> resolved (offset, epoch)
 *                         ^                                    |   \--reply error--> rejected (server code)
 *                         |                                    |   \--retryable error, failures < max--> queued (later)
 *                         +------ connection died, failures < max
 *                                 (resent only after the next hello, same key)
 *                                      connection died, failures = max --> rejected UNCONFIRMED
 *
 * Invariants:
 * - Bounded in entries and bytes, counting queued and inflight alike: a full
 *   outbox refuses a new publish at once (OUTBOX_FULL), never drops silently.
 * - An entry is written at most once per connection: an unacknowledged entry
 *   is never resent on the socket it was sent on (only a death sends it back
 *   to the queue), so a slow acknowledgement cannot make a duplicate.
 * - Every entry keeps its idempotency key for life, so a resend after a
 *   reconnect is published once by the server (within its idempotency window).
 * - Every promise settles exactly once.
 */
import { ClientErrorCode } from './error-codes.js';
import { ClientError } from './client-error.js';
import { utf8Length } from './wire.js';

export interface PublishResult {
  /** Offset and epoch of the publication on a history topic; undefined otherwise. */
  offset: number | undefined;
  epoch: string | undefined;
}

export interface OutboxLimits {
  /** Entries waiting or unacknowledged. */
  maxMessages: number;
  /** Bytes of their frames. */
  maxBytes: number;
  /** Connection deaths (or retryable rejections) an entry may see before it fails. */
  maxAttempts: number;
}

export const DEFAULT_OUTBOX: OutboxLimits = { maxMessages: 1_000, maxBytes: 1_048_576, maxAttempts: 3 };

export interface OutboxEntry {
  readonly key: string;
  readonly topic: string;
  /** The command's JSON without its `id`: `"publish":...,"data":...,"key":...`. */
  readonly body: string;
  readonly bytes: number;
  state: 'queued' | 'inflight';
  /** Connection deaths while inflight plus retryable rejections. */
  failures: number;
  /** Wall-clock ms of the first write; a resend later than the idempotency window is unsafe. */
  firstSentAt: number | undefined;
  /** No resend before this wall-clock ms (a retryable rejection backs off). */
  notBefore: number;
  readonly resolve: (r: PublishResult) => void;
  readonly reject: (e: ClientError) => void;
}

export class Outbox {
  readonly #entries: OutboxEntry[] = [];
  #totalBytes = 0;

  constructor(readonly limits: OutboxLimits = DEFAULT_OUTBOX) {}

  get size(): number {
    return this.#entries.length;
  }

  get bytes(): number {
    return this.#totalBytes;
  }

  /** Builds the command body; throws BAD_ARGUMENT if `data` has no JSON form. */
  static body(topic: string, data: unknown, key: string): string {
    let json: string | undefined;
    try {
      json = JSON.stringify(data);
    } catch {
      // cyclic, or a BigInt: same answer as undefined below
    }
    if (json === undefined) throw new ClientError(ClientErrorCode.BAD_ARGUMENT, 'data: no JSON form');
    return `"publish":${JSON.stringify(topic)},"data":${json},"key":${JSON.stringify(key)}`;
  }

  /** Queues a publish; rejects at once with OUTBOX_FULL when a bound would be crossed. */
  add(topic: string, body: string, key: string): Promise<PublishResult> {
    // `{"id":<up to 16 digits>,` + body + `}`
    const bytes = utf8Length(body) + 24;
    if (this.#entries.length >= this.limits.maxMessages || this.#totalBytes + bytes > this.limits.maxBytes) {
      return Promise.reject(
        new ClientError(
          ClientErrorCode.OUTBOX_FULL,
          `outbox full: ${this.#entries.length} of ${this.limits.maxMessages} messages, ${this.#totalBytes} + ${bytes} of ${this.limits.maxBytes} bytes`,
        ),
      );
    }
    return new Promise<PublishResult>((resolve, reject) => {
      this.#entries.push({ key, topic, body, bytes, state: 'queued', failures: 0, firstSentAt: undefined, notBefore: 0, resolve, reject });
      this.#totalBytes += bytes;
    });
  }

  /** Queued entries due to be written now, in order. */
  due(now: number): OutboxEntry[] {
    return this.#entries.filter((e) => e.state === 'queued' && e.notBefore <= now);
  }

  /** Earliest wall-clock ms at which a backed-off entry becomes due, or undefined. */
  nextDueAt(): number | undefined {
    let at: number | undefined;
    for (const e of this.#entries) if (e.state === 'queued' && e.notBefore > 0 && (at === undefined || e.notBefore < at)) at = e.notBefore;
    return at;
  }

  markSent(entry: OutboxEntry, now: number): void {
    entry.state = 'inflight';
    entry.firstSentAt ??= now;
  }

  /** The server applied it (first time or deduplicated). */
  applied(entry: OutboxEntry, result: PublishResult): void {
    if (this.#remove(entry)) entry.resolve(result);
  }

  /** The server refused it; a retryable refusal goes back to the queue until maxAttempts, not before `retryAt`. */
  refused(entry: OutboxEntry, err: ClientError, retryAt: number): void {
    if (err.retryable && ++entry.failures < this.limits.maxAttempts) {
      entry.state = 'queued';
      entry.notBefore = retryAt;
      return;
    }
    this.fail(entry, err);
  }

  /**
   * The connection died: entries it had in flight go back to the queue, in
   * their original order, to be resent after the next hello with the same
   * key; an entry on its maxAttempts-th death fails with UNCONFIRMED.
   */
  connectionDied(): void {
    for (const e of [...this.#entries]) {
      if (e.state !== 'inflight') continue;
      e.state = 'queued';
      if (++e.failures >= this.limits.maxAttempts) {
        this.fail(e, unconfirmed(e, `${e.failures} connection losses`));
      }
    }
  }

  /** Fails entries written longer ago than the server's idempotency window: a resend could publish twice. */
  expire(now: number, windowMs: number): void {
    for (const e of [...this.#entries]) {
      if (e.state === 'queued' && e.firstSentAt !== undefined && now - e.firstSentAt > windowMs) {
        this.fail(e, unconfirmed(e, "the server's idempotency window"));
      }
    }
  }

  /** Settles every entry with `err` (close()). */
  failAll(err: ClientError): void {
    for (const e of [...this.#entries]) this.fail(e, err);
  }

  fail(entry: OutboxEntry, err: ClientError): void {
    if (this.#remove(entry)) entry.reject(err);
  }

  #remove(entry: OutboxEntry): boolean {
    const i = this.#entries.indexOf(entry);
    if (i < 0) return false;
    this.#entries.splice(i, 1);
    this.#totalBytes -= entry.bytes;
    return true;
  }
}

function unconfirmed(e: OutboxEntry, after: string): ClientError {
  return new ClientError(ClientErrorCode.UNCONFIRMED, `publish ${e.key} to ${e.topic} unacknowledged after ${after}`);
}
