/**
 * What a failed Redis call means to the broker's caller: retryable
 * (SHARDLINE_BROKER_UNAVAILABLE: Redis unreachable, slow, loading, failing
 * over) or not (SHARDLINE_BROKER_FAILED: Redis answered with an error that
 * the same call will get again, such as a wrong key type).
 */

import { ErrorReply } from 'redis';
import { BrokerError, ErrorCode } from '../errors.js';

/** Error replies that say "not now" rather than "never" (Redis and Cluster docs). */
const TRANSIENT_REPLIES = ['LOADING', 'BUSY', 'CLUSTERDOWN', 'TRYAGAIN', 'MASTERDOWN', 'READONLY', 'MOVED', 'ASK', 'NOREPLICAS'];

export function unavailable(message: string): BrokerError {
  return new BrokerError(ErrorCode.BROKER_UNAVAILABLE, message, true);
}

export function toBrokerError(err: unknown, what: string): BrokerError {
  if (err instanceof BrokerError) return err;
  if (err instanceof ErrorReply) {
    const word = err.message.split(' ', 1)[0] ?? '';
    if (TRANSIENT_REPLIES.includes(word)) return unavailable(`${what}: Redis answered ${err.message}`);
    return new BrokerError(ErrorCode.BROKER_FAILED, `${what}: Redis answered ${err.message}`, false);
  }
  // Timeouts, a closed socket, a full command queue, the client offline: all pass.
  const message = err instanceof Error ? err.message : String(err);
  return unavailable(`${what}: ${message}`);
}

/** `p`, or a retryable BrokerError after `ms` (for calls node-redis does not time out itself: SSUBSCRIBE, connect). */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(unavailable(`${what}: no answer from Redis within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** True for a NOSCRIPT reply: the script cache was emptied (Redis restarted, SCRIPT FLUSH, a new Cluster master). */
export function isNoScript(err: unknown): boolean {
  return err instanceof ErrorReply && err.message.startsWith('NOSCRIPT');
}
