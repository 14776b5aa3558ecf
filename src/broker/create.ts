/**
 * Builds the configured broker. The Redis implementation (and its client
 * library) is loaded only when configured, so the default memory broker needs
 * nothing beyond Node.
 */
import type { Logger } from 'pino';
import type { ResolvedConfig } from '../config.js';
import type { Broker } from './broker.js';
import { MemoryBroker } from './memory.js';

export async function createBroker(config: ResolvedConfig, logger?: Logger): Promise<Broker> {
  const idempotencyMs = 300_000;
  const b = config.broker;
  if (b.type === 'memory') return new MemoryBroker(config.nodeId, idempotencyMs);
  const { RedisBroker } = await import('./redis.js');
  return new RedisBroker({ url: b.url, urls: b.urls, keyPrefix: b.keyPrefix, nodeId: config.nodeId }, { logger });
}
