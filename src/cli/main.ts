#!/usr/bin/env node
/**
 * The `shardline` command. Only this file decides the process exit code.
 */
import { readFileSync } from 'node:fs';
import { loadApp } from '../app-loader.js';
import { resolveConfig } from '../config.js';
import { exitCodeFor } from '../errors.js';
import { createLogger } from '../primary/logger.js';
import { ShardlineServer } from '../primary/server.js';
import { USAGE, parseCommand, type Command } from './args.js';

/** The same signal again within this many ms is one signal delivered twice, not a second one. */
const DUPLICATE_SIGNAL_MS = 50;

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
  const config = resolveConfig({ file: cmd.configFile, overrides: cmd.overrides });
  await loadApp(config.app);
  process.stdout.write(`${JSON.stringify(config, null, 2)}\n`);
  return 0;
}

async function start(cmd: Command): Promise<number> {
  const config = resolveConfig({ file: cmd.configFile, overrides: cmd.overrides });
  const logger = createLogger();

  // Handlers go in before the shards start: a signal during start-up drains too.
  // First SIGTERM/SIGINT: drain. Any further signal: force. Except one thing:
  // Ctrl+C under `npm start` delivers SIGINT twice within a millisecond (to the
  // process group, and again from npm), which must not count as a second signal.
  let server: ShardlineServer | null = null;
  let first: { signal: NodeJS.Signals; at: number } | null = null;
  const onSignal = (signal: NodeJS.Signals): void => {
    const now = performance.now();
    if (first === null) {
      first = { signal, at: now };
      void server?.drain(signal);
    } else if (signal === first.signal && now - first.at < DUPLICATE_SIGNAL_MS) {
      logger.debug({ signal }, 'duplicate signal ignored');
    } else {
      logger.warn({ signal }, 'second signal: forcing the drain');
      void server?.force('signal');
    }
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  server = new ShardlineServer(config, { logger });

  const summary = await server.closed;
  if (summary.error !== undefined && server.port === 0) {
    // Never got to serve: the one line an operator needs, on stderr.
    process.stderr.write(`shardline: ${summary.error.message}\n`);
  }
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
    case 'start':
      return start(cmd);
    case 'bench':
      return (await import('../loadgen/cli.js')).runBench(cmd.argv ?? []);
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => process.exit(reportError(err)),
);
