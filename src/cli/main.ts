#!/usr/bin/env node
/**
 * The `shardline` command. Only this file decides the process exit code.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { loadApp } from '../app-loader.js';
import { resolveConfigWithSources } from '../config.js';
import { ErrorCode, ShardlineError, exitCodeFor } from '../errors.js';
import { createLogger } from '../primary/logger.js';
import { ShardlineServer } from '../primary/server.js';
import { USAGE, parseCommand, type Command } from './args.js';
import { redacted, formatSources, printConfig } from './config-cmd.js';
import { handleSignals } from './signals.js';
import { watchParent } from './parent-watch.js';
import { reloadServer } from './reload-command.js';
import { removePidFile, writePidFile } from '../primary/reload-status.js';

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** One clear line on stderr, no stack trace; returns the exit code for it. */
function reportError(err: unknown): number {
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && code.startsWith('SHARDLINE_')) {
    process.stderr.write(`shardline: ${(err as Error).message}\n`);
    return exitCodeFor(code);
  }
  process.stderr.write(`shardline: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  return 1;
}

async function check(cmd: Command): Promise<number> {
  const { config, sources } = resolveConfigWithSources({ file: cmd.configFile, overrides: cmd.overrides, env: process.env });
  await loadApp(config.app);
  process.stdout.write(cmd.sources === true ? formatSources(config, sources) : `${JSON.stringify(redacted(config), null, 2)}\n`);
  return 0;
}

async function reload(cmd: Command): Promise<number> {
  let pidFile = cmd.overrides.pidFile === undefined ? null : resolve(cmd.overrides.pidFile);
  if (pidFile === null) {
    pidFile = resolveConfigWithSources({ file: cmd.configFile, overrides: cmd.overrides, env: process.env }).config.pidFile;
    if (pidFile === null)
      throw new ShardlineError(ErrorCode.ARGS_INVALID, `${cmd.configFile ?? 'config'}: pidFile: not set, so there is no server to find (or pass --pid-file)`);
  }
  return reloadServer(pidFile, cmd.timeoutMs ?? 90_000, (line) => process.stdout.write(`${line}\n`));
}

async function start(cmd: Command): Promise<number> {
  // The same sources at every SIGHUP: flags, SHARDLINE_* variables, the file.
  const load = () => resolveConfigWithSources({ file: cmd.configFile, overrides: cmd.overrides, env: process.env });
  const { config, ignoredEnv } = load();
  const logger = createLogger();
  if (ignoredEnv.length > 0) {
    logger.warn({ variables: ignoredEnv }, 'ignored Kubernetes service-link variables (set enableServiceLinks: false in the pod spec)');
  }

  // Handlers go in before the shards start: a signal during start-up drains too.
  let server: ShardlineServer | null = null;
  handleSignals(logger, {
    drain: (signal) => void server?.drain(signal),
    force: () => void server?.force('signal'),
    reload: (signal) => server?.reload(signal),
  });
  if (config.exitWithParent) {
    watchParent((gone) => {
      logger.warn({ ...gone }, 'parent process gone without passing a signal on: draining');
      void server?.drain('parent exited');
    });
  }
  if (config.pidFile !== null) {
    try {
      writePidFile(config.pidFile);
    } catch (err) {
      throw new ShardlineError(ErrorCode.CONFIG_INVALID, `pidFile: cannot write ${config.pidFile} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  }
  server = new ShardlineServer(config, { logger, loadConfig: () => load().config });

  const summary = await server.closed;
  if (summary.error !== undefined && server.port === 0) {
    // Never got to serve: the one line an operator needs, on stderr.
    process.stderr.write(`shardline: ${summary.error.message}\n`);
  }
  if (config.pidFile !== null) removePidFile(config.pidFile);
  return summary.exitCode;
}

async function main(argv: string[]): Promise<number> {
  const cmd = parseCommand(argv);
  switch (cmd.name) {
    case 'help':
      process.stdout.write(`${USAGE}\n`);
      return 0;
    case 'version':
      process.stdout.write(`${version()}\n`);
      return 0;
    case 'check':
      return check(cmd);
    case 'config':
      process.stdout.write(printConfig(cmd.what ?? 'defaults'));
      return 0;
    case 'start':
      return start(cmd);
    case 'reload':
      return reload(cmd);
    case 'bench':
      return (await import('../loadgen/cli.js')).runBench(cmd.argv ?? []);
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => process.exit(reportError(err)),
);
