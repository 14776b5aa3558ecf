import type { OffloadOptions } from '../app.js';
import { ErrorCode, OffloadError } from '../errors.js';

type Hook = (task: string, payload: unknown, opts?: OffloadOptions) => Promise<unknown>;

/**
 * Runs a task of the offload module in the worker pool, from anywhere in app
 * code running on a shard thread (conn.offload() is the same, tied to a socket
 * so that the drain waits for it before that socket's close frame).
 */
export function offload<T = unknown>(task: string, payload?: unknown, opts?: OffloadOptions): Promise<T> {
  const hook = (globalThis as Record<symbol, unknown>)[Symbol.for('shardline.offload')] as Hook | undefined;
  if (typeof hook !== 'function') {
    return Promise.reject(new OffloadError(ErrorCode.OFFLOAD_NOT_CONFIGURED, 'offload() only works in app code running on a shardline shard thread'));
  }
  return hook(task, payload, opts) as Promise<T>;
}
