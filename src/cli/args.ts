import { parseArgs } from 'node:util';
import type { ConfigOverrides } from '../config.js';
import { ErrorCode, ShardlineError } from '../errors.js';

export const USAGE = `Usage:
  shardline start [--config FILE] [--port N] [--host H] [--shards N|auto] [--app MODULE]
  shardline check --config FILE [--port N] [--host H] [--shards N|auto] [--app MODULE]
  shardline bench load|pubsub|drain|capacity|http-drain ...   (shardline bench --help)
  shardline --help | --version

start   runs the server (the built-in echo and pub/sub app when no app is set).
        SIGTERM or SIGINT drains it; a second signal forces it.
check   validates the config, loads the app module, prints the resolved config.

Flags override the config file; the file overrides the defaults.
Exit codes: 0 clean drain, 1 drain forced or a shard failed, 2 bad config or arguments.`;

export interface Command {
  name: 'start' | 'check' | 'help' | 'version' | 'bench';
  configFile?: string | undefined;
  overrides: ConfigOverrides;
  /** `bench` only: the arguments after `bench`, untouched (src/loadgen/cli.ts parses them). */
  argv?: string[];
}

function argsError(message: string): ShardlineError {
  return new ShardlineError(ErrorCode.ARGS_INVALID, `command line: ${message}`);
}

function int(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw argsError(`${flag}: expected a whole number, got '${value}'`);
  return Number(value);
}

export function parseCommand(argv: string[]): Command {
  if (argv[0] === 'bench') return { name: 'bench', overrides: {}, argv: argv.slice(1) };
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        config: { type: 'string', short: 'c' },
        port: { type: 'string', short: 'p' },
        host: { type: 'string' },
        shards: { type: 'string' },
        app: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
      },
    });
  } catch (err) {
    throw argsError((err as Error).message.split('\n')[0] ?? 'invalid arguments');
  }
  const { values, positionals } = parsed;
  if (values.help === true) return { name: 'help', overrides: {} };
  if (values.version === true) return { name: 'version', overrides: {} };
  const [name, ...rest] = positionals;
  if (name === undefined) throw argsError(`a command is required (start or check)\n${USAGE}`);
  if (name !== 'start' && name !== 'check') throw argsError(`unknown command '${name}' (start or check)`);
  if (rest.length > 0) throw argsError(`unexpected argument '${rest[0]}'`);
  if (name === 'check' && values.config === undefined) throw argsError('check needs --config FILE');
  const shards = values.shards === undefined || values.shards === 'auto' ? values.shards : int('--shards', values.shards);
  if (values.host === '') throw argsError('--host: must not be empty');
  return {
    name,
    configFile: values.config,
    overrides: {
      port: int('--port', values.port),
      host: values.host,
      shards: shards as number | 'auto' | undefined,
      app: values.app,
    },
  };
}
