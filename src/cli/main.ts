#!/usr/bin/env node
/**
 * The `shardline` command. Only this file decides the process exit code.
 */
import { readFileSync } from 'node:fs';
import { loadApp } from '../app-loader.js';
import { resolveConfigWithSources } from '../config.js';
import { exitCodeFor } from '../errors.js';
import { createLogger } from '../primary/logger.js';
import { ShardlineServer } from '../primary/server.js';
import { USAGE, parseCommand, type Command } from './args.js';
import { formatSources, printConfig } from './config-cmd.js';
import { handleSignals } from './signals.js';

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
  process.stdout.write(cmd.sources === true ? formatSources(config, sources) : `${JSON.stringify(config, null, 2)}\n`);
  return 0;
}

async function start(cmd: Command): Promise<number> {
  const { config, ignoredEnv } = resolveConfigWithSources({ file: cmd.configFile, overrides: cmd.overrides, env: process.env });
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
    case 'config':
      process.stdout.write(printConfig(cmd.what ?? 'defaults'));
      return 0;
    case 'start':
      return start(cmd);
    case 'bench':
      return (await import('../bench/cli.js')).runBench(cmd.argv ?? []);
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => process.exit(reportError(err)),
);
