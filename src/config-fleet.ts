/**
 * The fleet's part of the configuration schema: the broker that joins the
 * nodes, the topics that keep history, the HTTP publish API and the node id.
 * Merged into the main schema by src/config.ts.
 */
import { z } from 'zod';

export const FLEET_DEFAULTS = {
  broker: { type: 'memory' },
  keyPrefix: 'sl',
  /** Longest topic name, in UTF-8 bytes. */
  maxTopicBytes: 256,
  /** How long an idempotency key is remembered (s): longer than a message waits in a client's outbox. */
  idempotencySec: 300,
  /** The app-level ping interval announced to protocol v1 clients (s). */
  pingSec: 25,
} as const;

const redisUrl = z.string().regex(/^rediss?:\/\/[^\s]+$/, 'must be a redis:// or rediss:// URL');

export const brokerSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('memory') }),
  z.strictObject({
    type: z.literal('redis'),
    url: redisUrl.optional(),
    /** Redis Cluster seed nodes. */
    urls: z.array(redisUrl).min(1).optional(),
    keyPrefix: z
      .string()
      .regex(/^[A-Za-z0-9_.:-]{1,32}$/, 'must be 1-32 characters of A-Z a-z 0-9 _ . : -')
      .default(FLEET_DEFAULTS.keyPrefix),
  }),
]);

/** A glob over topic names: `*` matches any run of characters except `.`, `**` any run at all, `?` one character. */
const glob = z.string().min(1).max(256);

export const historyRuleSchema = z.strictObject({
  match: glob,
  /** Publications kept per topic. */
  size: z.number().int().min(1).max(100_000),
  /** The history expires this long after the topic's last publication. */
  ttlSec: z
    .number()
    .int()
    .min(1)
    .max(30 * 24 * 3600),
});

export const apiSchema = z.strictObject({
  /** 0 = off. A separate listener for backend services (POST /api/publish). */
  port: z.number().int().min(0).max(65535).default(0),
  host: z.string().min(1).default('127.0.0.1'),
  /** Bearer keys accepted by the API; required when port is set. */
  keys: z.array(z.string().min(16, 'must be at least 16 characters')).default([]),
});

export const fleetSchemaShape = {
  broker: brokerSchema.default({ type: 'memory' }),
  history: z.array(historyRuleSchema).default([]),
  api: apiSchema.prefault({}),
  /** This node's id in the fleet (hello frames, publication origins); default: host, pid and a random suffix. */
  nodeId: z
    .string()
    .regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'must be 1-64 characters of A-Z a-z 0-9 _ . : -')
    .optional(),
};

export type BrokerConfig = z.output<typeof brokerSchema>;
export type HistoryRule = z.output<typeof historyRuleSchema>;
export type ApiConfig = z.output<typeof apiSchema>;
