/**
 * shardline's public API.
 *
 *   import { startServer, defineApp } from 'shardline';
 *   const server = await startServer({ config: { port: 0, shards: 2 } });
 *   ...
 *   const summary = await server.drain();   // what SIGTERM does
 */
import { resolveConfig, type ConfigInput, type ConfigOverrides, type ResolvedConfig } from './config.js';
import { createLogger, type Logger } from './primary/logger.js';
import { ShardlineServer, type ShutdownSummary } from './primary/server.js';

export {
  defineApp,
  type App,
  type Connection,
  type OffloadOptions,
  type Payload,
  type PublicationFrame,
  type PublishOutcome,
  type PubSubError,
  type StreamPosition,
  type SubscribeResult,
  type UpgradeRequest,
} from './app.js';
export { offload } from './offload/api.js';
export { publish, type PublishOptions } from './broker/publish.js';
export { default as defaultApp } from './default-app.js';
export { DEFAULTS, resolveConfig, type ConfigInput, type ConfigOverrides, type ResolvedConfig } from './config.js';
export { BrokerError, CloseCode, ErrorCode, OffloadError, ShardlineError, type WireError } from './errors.js';
export type { DrainReport } from './protocol.js';
export { ShardlineServer, type ShutdownSummary } from './primary/server.js';
export type { PrimaryMetrics } from './metrics/primary-metrics.js';

export interface StartOptions {
  /** A config file (YAML or JSON); `app` inside it is relative to the file. */
  configFile?: string;
  /** Plain config data, used when there is no file. */
  config?: ConfigInput;
  overrides?: ConfigOverrides;
  /** A pino logger; default JSON lines on stdout at SHARDLINE_LOG_LEVEL or info. */
  logger?: Logger;
}

/** Creates the server and starts its shards; `server.ready` resolves once every shard listens. */
export function createServer(opts: StartOptions = {}): ShardlineServer {
  const load = (): ResolvedConfig => resolveConfig({ file: opts.configFile, config: opts.config, overrides: opts.overrides });
  // server.reload() re-reads the same file (plain config: the same values, with the app module re-imported).
  return new ShardlineServer(load(), { logger: opts.logger ?? createLogger(), loadConfig: load });
}

/**
 * Starts the server and waits until every shard listens. Signals are not
 * handled here: call `server.drain()` (and `server.force()`) yourself, or use
 * the CLI, which wires SIGTERM and SIGINT to them.
 */
export async function startServer(opts: StartOptions = {}): Promise<ShardlineServer> {
  const server = createServer(opts);
  try {
    await server.ready;
  } catch (err) {
    const summary: ShutdownSummary = await server.closed;
    throw Object.assign(new Error((err as { message?: string }).message ?? 'start failed'), { code: summary.error?.code, summary });
  }
  return server;
}
