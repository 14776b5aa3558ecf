/**
 * The standalone publish() of the public API, for app code with no socket at
 * hand: in a shard thread it goes through that shard (as conn.publish()); on
 * the thread that started the server (startServer), through the server.
 * Errors are values, never rejections (see PublishOutcome).
 */
import type { Payload, PublishOutcome } from '../app.js';
import { ErrorCode } from '../errors.js';

export const PUBLISH_HOOK = Symbol.for('shardline.publish');

export type PublishHook = (topic: string, data: Payload, opts: PublishOptions) => Promise<PublishOutcome>;

export interface PublishOptions {
  /** Send as a binary message (default: text for strings, binary for bytes). */
  binary?: boolean | undefined;
  /** Publishes once within the idempotency window (5 min): a repeat returns the first outcome. */
  key?: string | undefined;
}

export function publish(topic: string, data: Payload, opts: PublishOptions = {}): Promise<PublishOutcome> {
  const hook = (globalThis as Record<symbol, unknown>)[PUBLISH_HOOK] as PublishHook | undefined;
  if (typeof hook !== 'function') {
    return Promise.resolve({
      ok: false,
      error: {
        code: ErrorCode.PUBLISH_FAILED,
        message: 'publish() works in app code on a shard thread, or on the thread that started the server',
        retryable: false,
      },
    });
  }
  return hook(topic, data, opts);
}

export function setPublishHook(hook: PublishHook | null): void {
  (globalThis as Record<symbol, unknown>)[PUBLISH_HOOK] = hook ?? undefined;
}
