/**
 * Configuration: one schema gives the types, the defaults (with units) and the
 * error messages. Precedence: command-line flags over the config file over the
 * defaults, and SHARDLINE_* environment variables (src/config-env.ts) between
 * the flags and the file. A resolved config is deep-frozen plain data, so it can be posted
 * to the shard threads as it is.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, extname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { envKeys, mergeLayer, originOf, readEnv, type EnvLayer } from './config-env.js';
import { availableCpus } from './cpu-quota.js';
import { resolveTls, tlsSchema, type ResolvedTls } from './tls-files.js';
import { CloseCode, ErrorCode, MAX_CLOSE_REASON_BYTES, ShardlineError, isSendableCloseCode } from './errors.js';
import { fleetSchemaShape, type ApiConfig, type BrokerConfig, type HistoryRule } from './config-fleet.js';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';

const KiB = 1024;
const MiB = 1024 * KiB;

/**
 * How long uWS waits, after a close frame it sent, for the client's close reply
 * before it drops the socket: it follows idleTimeout (uWebSockets
 * calculateIdleTimeoutCompnents: 4 s below 16, 8 s below 32, else 16 s) and is
 * checked on a 4 s tick. A shard thread cannot exit before then, so a client
 * that vanished can hold the process exit this long after its close frame.
 */
export function closeHandshakeSec(idleTimeoutSec: number): number {
  let margin = 4;
  while (idleTimeoutSec - margin * 2 >= margin * 2 && margin < 16) margin *= 2;
  return margin;
}

export const DEFAULTS = {
  port: 9001,
  host: '0.0.0.0',
  shards: 'auto',
  drain: {
    timeoutMs: 10_000, // 10 s from the end of delayMs until shards are forced
    delayMs: 0, // time /readyz answers 503 before listeners close
    barrierMs: 1000, // how long a socket's close frame waits for the pong to the drain's ping; 0 = no ping
    closeCode: CloseCode.GOING_AWAY,
    closeReason: 'server shutting down',
    // Close frames spread over this window (ms), the i-th socket of n at i/n of it, and the close
    // reason becomes {"reason":...,"retryMs":spreadMs} so clients spread their reconnects too; 0 = all at once.
    spreadMs: 0,
  },
  reload: {
    // SIGHUP roll: an old shard's own deadline (ms, from the start of its drain) before it is forced.
    timeoutMs: 10_000,
    spreadMs: 0, // an old shard's close frames (1012) spread over this window (ms), as drain.spreadMs
  },
  exitWithParent: true, // drain when the parent process dies without passing a signal on (npm SIGKILLed)
  health: {
    // A node:http listener on the primary for /healthz and /readyz: uWS v20.30 never answers an
    // HTTP/1.0 request (HAProxy's default httpchk, nginx's default proxy_http_version). null = off.
    port: null as number | null,
  },
  backpressure: {
    maxQueueBytes: 1 * MiB, // per socket, on top of uWS's own buffer
    onOverflow: 'close',
    maxUnackedBytes: 1 * MiB, // per socket: sent but not yet confirmed read by a pong; 0 = trust the kernel's buffers
  },
  limits: {
    maxPayloadBytes: 64 * KiB, // largest message a client may send
    maxConnections: 0, // open sockets over every shard; further upgrades get 503; 0 = no limit
    maxMessagesPerSecond: 0, // per socket; above it the socket is closed with 1008; 0 = no limit
    shardHeapMb: 0, // V8 old-space limit of each shard thread, in MiB; 0 = Node's default
  },
  allowedOrigins: [] as string[], // Origin values allowed to upgrade (403 otherwise); empty = any
  // uWS pings a socket idle for idleTimeoutSec minus 8 s and closes it if nothing came back by then.
  // 30 keeps idle sockets alive through proxies that cut at 60 s, and keeps uWS's close-handshake
  // timeout (closeHandshakeSec) at 8 s, inside the default drain.timeoutMs.
  idleTimeoutSec: 30, // 0 = off
  offload: {
    threads: 'auto', // pool threads; auto = available cores, capped by the cgroup CPU quota
    maxQueue: 'auto', // tasks waiting for a thread; auto = 64 per thread (src/offload/pool.ts says why)
    taskTimeoutMs: 30_000, // a task running longer is aborted (its pool thread is replaced)
  },
  metrics: {
    port: 0, // Prometheus /metrics listener on the primary; 0 = off
    host: '0.0.0.0',
  },
} as const;

const port = z.number().int().min(0).max(65535);

const drainSchema = z.strictObject({
  timeoutMs: z.number().int().min(0).max(3_600_000).default(DEFAULTS.drain.timeoutMs),
  delayMs: z.number().int().min(0).max(3_600_000).default(DEFAULTS.drain.delayMs),
  barrierMs: z.number().int().min(0).max(60_000).default(DEFAULTS.drain.barrierMs),
  closeCode: z
    .number()
    .int()
    .refine(isSendableCloseCode, 'must be a close code a server may send: 1000-1003, 1007-1014 or 3000-4999')
    .default(DEFAULTS.drain.closeCode),
  closeReason: z
    .string()
    .refine((s) => Buffer.byteLength(s) <= MAX_CLOSE_REASON_BYTES, `must be at most ${MAX_CLOSE_REASON_BYTES} bytes`)
    .default(DEFAULTS.drain.closeReason),
  spreadMs: z.number().int().min(0).max(3_600_000).default(DEFAULTS.drain.spreadMs),
});

const reloadSchema = z.strictObject({
  timeoutMs: z.number().int().min(0).max(3_600_000).default(DEFAULTS.reload.timeoutMs),
  spreadMs: z.number().int().min(0).max(3_600_000).default(DEFAULTS.reload.spreadMs),
});

const healthSchema = z.strictObject({
  port: port.nullable().default(DEFAULTS.health.port),
  /** Defaults to the server's `host`. */
  host: z.string().min(1).optional(),
});

const backpressureSchema = z.strictObject({
  maxQueueBytes: z
    .number()
    .int()
    .min(1024)
    .max(2 ** 31)
    .default(DEFAULTS.backpressure.maxQueueBytes),
  onOverflow: z.enum(['close', 'drop-newest']).default(DEFAULTS.backpressure.onOverflow),
  maxUnackedBytes: z
    .number()
    .int()
    .refine((n) => n === 0 || (n >= 16 * KiB && n <= 2 ** 31), 'must be 0 (off) or from 16384 to 2147483648')
    .default(DEFAULTS.backpressure.maxUnackedBytes),
});

const limitsSchema = z.strictObject({
  maxPayloadBytes: z
    .number()
    .int()
    .min(1)
    .max(2 ** 30)
    .default(DEFAULTS.limits.maxPayloadBytes),
  maxConnections: z
    .number()
    .int()
    .min(0)
    .max(2 ** 31 - 1)
    .default(DEFAULTS.limits.maxConnections),
  maxMessagesPerSecond: z
    .number()
    .int()
    .min(0)
    .max(2 ** 31 - 1)
    .default(DEFAULTS.limits.maxMessagesPerSecond),
  shardHeapMb: z
    .number()
    .int()
    .refine((n) => n === 0 || (n >= 32 && n <= 65_536), 'must be 0 (Node default) or between 32 and 65536 MiB')
    .default(DEFAULTS.limits.shardHeapMb),
});

const offloadSchema = z.strictObject({
  module: z.string().min(1).optional(),
  threads: z.union([z.literal('auto'), z.number().int().min(1).max(256)]).default(DEFAULTS.offload.threads),
  maxQueue: z.union([z.literal('auto'), z.number().int().min(0).max(1_000_000)]).default(DEFAULTS.offload.maxQueue),
  taskTimeoutMs: z.number().int().min(1).max(3_600_000).default(DEFAULTS.offload.taskTimeoutMs),
});

const metricsSchema = z.strictObject({
  port: port.default(DEFAULTS.metrics.port),
  host: z.string().min(1).default(DEFAULTS.metrics.host),
});

export const configSchema = z.strictObject({
  port: port.default(DEFAULTS.port),
  host: z.string().min(1).default(DEFAULTS.host),
  shards: z.union([z.literal('auto'), z.number().int().min(1).max(256)]).default(DEFAULTS.shards),
  app: z.string().min(1).optional(),
  drain: drainSchema.prefault({}),
  reload: reloadSchema.prefault({}),
  health: healthSchema.prefault({}),
  /** The server writes its pid here at start (for `shardline reload`, systemd's PIDFile=) and removes it at exit. */
  pidFile: z.string().min(1).optional(),
  exitWithParent: z.boolean().default(DEFAULTS.exitWithParent),
  backpressure: backpressureSchema.prefault({}),
  limits: limitsSchema.prefault({}),
  offload: offloadSchema.prefault({}),
  metrics: metricsSchema.prefault({}),
  allowedOrigins: z
    .array(z.string().regex(/^[a-z][a-z0-9+.-]*:\/\/[^/\s]+$/i, 'must be an origin such as https://example.com (scheme://host[:port], no path)'))
    .default([]),
  idleTimeoutSec: z
    .number()
    .int()
    .refine((n) => n === 0 || (n >= 8 && n <= 960), 'must be 0 (off) or between 8 and 960 seconds')
    .default(DEFAULTS.idleTimeoutSec),
  ...fleetSchemaShape,
  tls: tlsSchema.optional(), // off unless set: src/tls-files.ts
});

export type ConfigInput = z.input<typeof configSchema>;

/** The config after defaults, with `shards` a number and `app` an absolute path. */
export interface ResolvedConfig {
  readonly port: number;
  readonly host: string;
  readonly shards: number;
  readonly app: string | null;
  readonly drain: Readonly<z.output<typeof drainSchema>>;
  readonly reload: Readonly<z.output<typeof reloadSchema>>;
  /** The primary's own health listener; port null = off. */
  readonly health: { readonly port: number | null; readonly host: string };
  /** Absolute path of the pid file, or null. */
  readonly pidFile: string | null;
  readonly exitWithParent: boolean;
  readonly backpressure: Readonly<z.output<typeof backpressureSchema>>;
  readonly limits: Readonly<z.output<typeof limitsSchema>>;
  /** port 0 = no metrics listener. */
  readonly metrics: Readonly<z.output<typeof metricsSchema>>;
  readonly idleTimeoutSec: number;
  /** Absolute, validated file paths; null = plain ws:// and http://. */
  readonly tls: ResolvedTls | null;
  /** Lower-cased origins allowed to upgrade; empty = any. */
  readonly allowedOrigins: readonly string[];
  readonly offload: {
    /** Absolute path of the tasks module, or null when offloading is off. */
    readonly module: string | null;
    readonly threads: number;
    readonly maxQueue: number | 'auto';
    readonly taskTimeoutMs: number;
  };
  readonly broker: Readonly<BrokerConfig>;
  /** History rules, first match wins; a topic matching none keeps no history. */
  readonly history: readonly Readonly<HistoryRule>[];
  readonly api: Readonly<ApiConfig>;
  readonly nodeId: string;
}

/** Values given on the command line; they override the file. */
export interface ConfigOverrides {
  port?: number | undefined;
  host?: string | undefined;
  shards?: number | 'auto' | undefined;
  app?: string | undefined;
  /** Relative to cwd. */
  pidFile?: string | undefined;
}

function configError(source: string, key: string, rule: string): ShardlineError {
  return new ShardlineError(ErrorCode.CONFIG_INVALID, `${source}: ${key ? `${key}: ` : ''}${rule}`);
}

/** Reads a YAML or JSON config file (chosen by extension) into plain data. */
export function readConfigFile(file: string): unknown {
  const ext = extname(file).toLowerCase();
  if (ext !== '.json' && ext !== '.yaml' && ext !== '.yml') {
    throw configError(file, '', 'config files must end in .json, .yaml or .yml');
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw configError(file, '', `cannot read the file (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  try {
    // logLevel 'error': YAML warnings (unknown tags) would print to stderr beside our one line.
    return ext === '.json' ? JSON.parse(text) : parseYaml(text, { logLevel: 'error' });
  } catch (err) {
    const first = String((err as Error).message).split('\n')[0] ?? '';
    throw configError(file, '', `not valid ${ext === '.json' ? 'JSON' : 'YAML'}: ${first}`);
  }
}

function formatIssue(issue: z.core.$ZodIssue): { key: string; rule: string } {
  const path = issue.path.map(String).join('.');
  if (issue.code === 'unrecognized_keys') {
    const keys = issue.keys.map((k) => (path ? `${path}.${k}` : k));
    return { key: keys.join(', '), rule: `unknown key${keys.length > 1 ? 's' : ''}` };
  }
  return { key: path, rule: issue.message };
}

/**
 * Finds a value that is not plain JSON-like data (YAML's !!set, !!omap or
 * !!timestamp give Set, Map and Date objects, which a schema would otherwise
 * read as an empty mapping). Returns its key path.
 */
function nonPlain(value: unknown, path: string[] = []): string[] | null {
  if (value === null || typeof value !== 'object') return null;
  if (Array.isArray(value)) {
    for (const [i, v] of value.entries()) {
      const found = nonPlain(v, [...path, String(i)]);
      if (found) return found;
    }
    return null;
  }
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) return path;
  for (const [k, v] of Object.entries(value)) {
    const found = nonPlain(v, [...path, k]);
    if (found) return found;
  }
  return null;
}

function assertPlain(data: unknown, source: string): void {
  const odd = nonPlain(data);
  if (odd !== null) throw configError(source, odd.join('.'), 'must be a plain value, list or mapping (no YAML tags such as !!set or !!omap)');
}

/**
 * Validates plain data against the schema; throws CONFIG_INVALID naming the
 * source and the key (`sourceOf` names another source for some keys: an env variable).
 */
export function validateConfig(data: unknown, source: string, sourceOf?: (key: string) => string | undefined): z.output<typeof configSchema> {
  const input = data ?? {};
  if (typeof input !== 'object' || Array.isArray(input)) {
    throw configError(source, '', 'the top level must be a mapping of keys to values');
  }
  assertPlain(input, source);
  // "$schema" is for editors (src/config-json-schema.ts), not a setting.
  const { $schema, ...settings } = input as Record<string, unknown>;
  if ($schema !== undefined && typeof $schema !== 'string') throw configError(source, '$schema', 'must be a string (the schema URL or path)');
  const result = configSchema.safeParse(settings);
  if (!result.success) {
    const issue = result.error.issues[0];
    if (issue === undefined) throw configError(source, '', 'invalid');
    const { key, rule } = formatIssue(issue);
    throw configError(sourceOf?.(key) ?? source, key, rule);
  }
  return result.data;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

export interface ResolveOptions {
  /** Path to a YAML or JSON config file. */
  file?: string | undefined;
  /** Plain config data (used by the programmatic API instead of a file). */
  config?: ConfigInput | undefined;
  /** Command-line values; they win over the file. */
  overrides?: ConfigOverrides | undefined;
  /** Directory flags and plain config are relative to (default: cwd). */
  cwd?: string | undefined;
  /** Environment whose SHARDLINE_* variables override the file (the CLI passes process.env). */
  env?: NodeJS.ProcessEnv | undefined;
}

/** The resolved config, where each key's value came from, and what to warn about. */
export interface ConfigResolution {
  config: ResolvedConfig;
  /** Dotted key -> 'default', the file name, 'environment SHARDLINE_...', or the flag. */
  sources: Record<string, string>;
  /** Service-link variables ignored (Kubernetes), to log once. */
  ignoredEnv: string[];
}

/** Every config key, as an environment variable (walked from the schema once). */
export const ENV_KEYS = envKeys(configSchema);

/**
 * Loads, merges and validates the configuration. `app` in the file is
 * relative to the file; `app` on the command line is relative to cwd.
 */
export function resolveConfig(opts: ResolveOptions = {}): ResolvedConfig {
  return resolveConfigWithSources(opts).config;
}

export function resolveConfigWithSources(opts: ResolveOptions = {}): ConfigResolution {
  const cwd = opts.cwd ?? process.cwd();
  let source = 'config';
  let raw: Record<string, unknown> = {};
  let appBase = cwd;
  if (opts.file !== undefined) {
    const file = resolve(cwd, opts.file);
    source = opts.file;
    const data = readConfigFile(file);
    assertPlain(data, source);
    if (data !== null && data !== undefined && (typeof data !== 'object' || Array.isArray(data))) {
      throw configError(source, '', 'the top level must be a mapping of keys to values');
    }
    raw = { ...(data as Record<string, unknown> | null) };
    appBase = dirname(file);
  } else if (opts.config !== undefined) {
    raw = { ...(opts.config as Record<string, unknown>) };
  }
  const fileRaw = raw;
  const env: EnvLayer = opts.env === undefined ? { data: {}, origins: new Map(), ignored: [] } : readEnv(opts.env, ENV_KEYS);
  raw = mergeLayer(raw, env.data);
  const envSource = (key: string): string | undefined => {
    const name = originOf(env.origins, key);
    return name === undefined ? undefined : `environment ${name}`;
  };
  // Paths in the file are relative to the file; in the environment, to cwd.
  const sourceOf = (key: string): string => envSource(key) ?? source;
  const baseOf = (key: string): string => (envSource(key) === undefined ? appBase : cwd);
  const parsed = validateConfig(raw, source, envSource);

  const o = opts.overrides ?? {};
  const flags = validateConfig(
    Object.fromEntries(Object.entries({ port: o.port, host: o.host, shards: o.shards }).filter(([, v]) => v !== undefined)),
    'command line',
  );
  const merged = {
    ...parsed,
    ...(o.port !== undefined ? { port: flags.port } : {}),
    ...(o.host !== undefined ? { host: flags.host } : {}),
    ...(o.shards !== undefined ? { shards: flags.shards } : {}),
  };

  // A spread window must leave the deadline time to finish the close handshakes.
  for (const key of ['drain', 'reload'] as const) {
    const { spreadMs, timeoutMs } = merged[key];
    if (spreadMs > 0 && spreadMs >= timeoutMs) throw configError(source, `${key}.spreadMs`, `must be below ${key}.timeoutMs (${timeoutMs} ms)`);
  }

  let app: string | null = null;
  if (o.app !== undefined) {
    app = resolveModulePath(o.app, cwd, 'command line', '--app', 'app module');
  } else if (merged.app !== undefined) {
    app = resolveModulePath(merged.app, baseOf('app'), sourceOf('app'), 'app', 'app module');
  }

  if (merged.broker.type === 'redis' && merged.broker.url === undefined && merged.broker.urls === undefined) {
    throw configError(sourceOf('broker'), 'broker.url', 'a redis broker needs url (one Redis) or urls (Redis Cluster seeds)');
  }
  if (merged.api.port !== 0 && merged.api.keys.length === 0) {
    throw configError(sourceOf('api'), 'api.keys', 'the publish API (api.port) needs at least one key');
  }
  if (merged.metrics.port !== 0 && (merged.metrics.port === merged.port || merged.metrics.port === merged.api.port)) {
    const other = merged.metrics.port === merged.port ? 'port' : 'api.port';
    throw configError(sourceOf('metrics'), 'metrics.port', `must differ from ${other} (${merged.metrics.port}): metrics have a listener of their own`);
  }

  const resolved: ResolvedConfig = {
    port: merged.port,
    host: merged.host,
    shards: merged.shards === 'auto' ? availableCpus() : merged.shards,
    app,
    drain: merged.drain,
    reload: merged.reload,
    health: { port: merged.health.port, host: merged.health.host ?? merged.host },
    pidFile: o.pidFile !== undefined ? resolve(cwd, o.pidFile) : merged.pidFile === undefined ? null : resolve(appBase, merged.pidFile),
    exitWithParent: merged.exitWithParent,
    backpressure: merged.backpressure,
    limits: merged.limits,
    metrics: merged.metrics,
    idleTimeoutSec: merged.idleTimeoutSec,
    tls: merged.tls === undefined ? null : resolveTls(merged.tls, baseOf, sourceOf),
    allowedOrigins: merged.allowedOrigins.map((o) => o.toLowerCase()),
    offload: {
      module:
        merged.offload.module === undefined
          ? null
          : resolveModulePath(merged.offload.module, baseOf('offload.module'), sourceOf('offload.module'), 'offload.module', 'tasks module'),
      threads: merged.offload.threads === 'auto' ? availableCpus() : merged.offload.threads,
      maxQueue: merged.offload.maxQueue,
      taskTimeoutMs: merged.offload.taskTimeoutMs,
    },
    broker: merged.broker,
    history: merged.history,
    api: merged.api,
    nodeId: merged.nodeId ?? `${hostname().slice(0, 40)}-${process.pid}-${randomBytes(3).toString('hex')}`,
  };
  const sources: Record<string, string> = {};
  for (const k of ENV_KEYS) {
    const key = k.path.join('.');
    const flag = ({ port: o.port, host: o.host, shards: o.shards, app: o.app } as Record<string, unknown>)[key];
    const envName = originOf(env.origins, key);
    sources[key] = flag !== undefined ? `--${key}` : envName !== undefined ? `environment ${envName}` : hasPath(fileRaw, k.path) ? source : 'default';
  }
  return { config: deepFreeze(resolved), sources, ignoredEnv: env.ignored };
}

function hasPath(data: Record<string, unknown>, path: readonly string[]): boolean {
  let node: unknown = data;
  for (const p of path) {
    if (node === null || typeof node !== 'object' || !Object.hasOwn(node, p)) return false;
    node = (node as Record<string, unknown>)[p];
  }
  return true;
}

function resolveModulePath(path: string, base: string, source: string, key: string, what: string): string {
  const abs = resolve(base, path);
  if (!existsSync(abs) || !statSync(abs).isFile()) {
    throw configError(source, key, `${what} not found: ${abs}`);
  }
  return abs;
}
