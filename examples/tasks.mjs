// Offload tasks for chat.mjs: CPU work that must not block a shard.
import { createHash } from 'node:crypto';

export function sha256(text) {
  return createHash('sha256').update(String(text)).digest('hex');
}
