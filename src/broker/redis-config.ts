/**
 * What the Redis broker is built from. The lead's config (`broker`, `nodeId`)
 * fills url/urls, keyPrefix and nodeId; the rest are tuning knobs with
 * defaults (tests shorten them).
 */
import { ErrorCode, ShardlineError } from '../errors.js';

export interface RedisBrokerConfig {
  /** A single Redis: `redis://host:port`. Exactly one of url and urls. */
  url?: string | undefined;
  /** Redis Cluster seed nodes. */
  urls?: readonly string[] | undefined;
  /** Prefix of every key and channel (no `{` or `}`: the hash tag must be the first). */
  keyPrefix: string;
  /** This node's id: the `origin` of its publications (no newline). */
  nodeId: string;
  /** Per-command timeout, ms (default 2,000). */
  commandTimeoutMs?: number | undefined;
  /** start() gives up after this long, ms (default 5,000). */
  connectTimeoutMs?: number | undefined;
  /** Liveness probe interval, ms (default 30,000; Centrifugo's default). */
  probeIntervalMs?: number | undefined;
  /** Commands written or waiting per connection (default 10,000). */
  queueMaxLength?: number | undefined;
  /** Received publications waiting for the handler before new ones are dropped (default 10,000). */
  maxPendingDeliveries?: number | undefined;
}

export type ResolvedRedisConfig = Required<Omit<RedisBrokerConfig, 'url' | 'urls'>> & Pick<RedisBrokerConfig, 'url' | 'urls'>;

/** Checks the config (a ShardlineError CONFIG_INVALID naming the key) and fills the defaults. */
export function resolveRedisConfig(config: RedisBrokerConfig): ResolvedRedisConfig {
  validate(config);
  return {
    commandTimeoutMs: 2000,
    connectTimeoutMs: 5000,
    probeIntervalMs: 30_000,
    queueMaxLength: 10_000,
    maxPendingDeliveries: 10_000,
    ...stripUndefined(config),
  };
}

function validate(c: RedisBrokerConfig): void {
  const bad = (key: string, rule: string) => new ShardlineError(ErrorCode.CONFIG_INVALID, `broker.${key} ${rule}`);
  const hasUrl = typeof c.url === 'string' && c.url.length > 0;
  const hasUrls = Array.isArray(c.urls) && c.urls.length > 0;
  if (hasUrl === hasUrls) throw bad('url', 'or broker.urls (Cluster seeds): exactly one must be set');
  if (!c.keyPrefix || /[{}]/.test(c.keyPrefix)) throw bad('keyPrefix', 'must be a non-empty string without { or }');
  if (!c.nodeId || /[\r\n]/.test(c.nodeId)) throw bad('nodeId', 'must be a non-empty string without a newline');
  for (const key of ['commandTimeoutMs', 'connectTimeoutMs', 'probeIntervalMs', 'queueMaxLength', 'maxPendingDeliveries'] as const) {
    const v = c[key];
    if (v !== undefined && (!Number.isSafeInteger(v) || v < 1)) throw bad(key, 'must be a positive integer');
  }
}

function stripUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
