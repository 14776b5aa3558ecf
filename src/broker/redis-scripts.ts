/**
 * The two Lua scripts of the Redis broker, in Centrifugo's order
 * (centrifugal/centrifuge internal/redis_lua/broker_history_add_stream.lua
 * and broker_history_stream.lua). A script runs atomically, so a topic's
 * offset is assigned together with the append to its history and the
 * SPUBLISH: offset order is delivery order.
 *
 * Every key a script touches shares the topic's hash tag (redis-names.ts), so
 * the script runs on the node that owns the topic's slot, SPUBLISH included.
 * The channel is passed as a key on purpose: a script with no key would be
 * routed to a random Cluster node.
 */

import { createHash } from 'node:crypto';

/** Idempotency results live this long (Centrifugo: defaultIdempotentResultExpireSeconds). Seconds. */
export const IDEMPOTENCY_TTL_SEC = 300;
/** The meta hash (epoch and top offset) outlives the history itself (Centrifugo history_meta_ttl). 30 days, in seconds. */
export const HISTORY_META_TTL_SEC = 30 * 24 * 3600;

/**
 * KEYS: 1 channel, 2 stream, 3 meta, 4 idempotency result key.
 * ARGV: 1 payload bytes, 2 envelope head, 3 envelope tail, 4 history size (0: no history),
 *       5 history TTL s, 6 meta TTL s, 7 idempotency TTL s (0: no key), 8 epoch if the topic has none.
 * Returns {duplicate 0|1, offset (0 without history), epoch ('-' without history)}.
 */
export const PUBLISH_LUA = `
local idem_ttl = tonumber(ARGV[7])
if idem_ttl > 0 then
  local cached = redis.call('get', KEYS[4])
  if cached then
    local sp = string.find(cached, ' ', 1, true)
    return {1, tonumber(string.sub(cached, 1, sp - 1)), string.sub(cached, sp + 1)}
  end
end
local offset = 0
local epoch = '-'
local size = tonumber(ARGV[4])
if size > 0 then
  epoch = redis.call('hget', KEYS[3], 'e')
  if not epoch then
    epoch = ARGV[8]
    redis.call('hset', KEYS[3], 'e', epoch)
  end
  offset = redis.call('hincrby', KEYS[3], 's', 1)
  redis.call('expire', KEYS[3], ARGV[6])
  -- Offset 1 with a stream present: the meta was lost (evicted, expired) but not the stream.
  if offset == 1 then redis.call('del', KEYS[2]) end
  local id = string.format('%d', offset)
  local env = ARGV[2] .. id .. ' ' .. epoch .. ARGV[3] .. ARGV[1]
  redis.call('xadd', KEYS[2], 'MAXLEN', size, id .. '-0', 'd', env)
  redis.call('expire', KEYS[2], ARGV[5])
  redis.call('spublish', KEYS[1], env)
else
  redis.call('spublish', KEYS[1], ARGV[2] .. '0 -' .. ARGV[3] .. ARGV[1])
end
if idem_ttl > 0 then
  redis.call('set', KEYS[4], string.format('%d', offset) .. ' ' .. epoch, 'EX', idem_ttl)
end
return {0, offset, epoch}
`;

/**
 * KEYS: 1 stream, 2 meta. ARGV: 1 since (offset), 2 limit (0: top only), 3 meta TTL s,
 * 4 epoch if the topic has none.
 * Returns {top offset, epoch, entries}; entries are XRANGE replies {id, {'d', envelope}}.
 */
export const HISTORY_LUA = `
local epoch = redis.call('hget', KEYS[2], 'e')
if not epoch then
  epoch = ARGV[4]
  redis.call('hset', KEYS[2], 'e', epoch)
end
local top = tonumber(redis.call('hget', KEYS[2], 's') or '0')
redis.call('expire', KEYS[2], ARGV[3])
local entries = {}
local limit = tonumber(ARGV[2])
if limit > 0 then
  local from = string.format('%d', tonumber(ARGV[1]) + 1) .. '-0'
  entries = redis.call('xrange', KEYS[1], from, '+', 'COUNT', limit)
end
return {top, epoch, entries}
`;

export interface LuaScript {
  source: string;
  sha1: string;
}

/** Indentation and comment lines dropped: the publish script travels with every EVAL. */
function script(text: string): LuaScript {
  const source = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('--'))
    .join('\n');
  return { source, sha1: createHash('sha1').update(source).digest('hex') };
}

export const PUBLISH_SCRIPT = script(PUBLISH_LUA);
export const HISTORY_SCRIPT = script(HISTORY_LUA);
