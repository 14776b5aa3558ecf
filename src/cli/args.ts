import { parseArgs } from 'node:util';
import type { ConfigOverrides } from '../config.js';
import { ErrorCode, ShardlineError } from '../errors.js';

export const USAGE = `Usage:
  shardline start [--config FILE] [--port N] [--host H] [--shards N|auto] [--app MODULE] [--pid-file F]
  shardline check --config FILE [--sources] [--port N] [--host H] [--shards N|auto] [--app MODULE]
  shardline reload --pid-file F | --config FILE  [--timeout SEC]
  shardline config defaults|schema|env
  shardline bench load|pubsub|drain|capacity|http-drain ...   (shardline bench --help)
  shardline --help | --version

start   runs the server (the built-in echo and pub/sub app when no app is set).
        SIGTERM, SIGINT, SIGQUIT or SIGUSR2 drains it; a second signal forces it.
        SIGHUP reloads the config and rolls the shards (close code 1012).
reload  sends SIGHUP to the server in the pid file (or the config's pidFile)
        and waits for the roll to finish: exit 0 reloaded, 1 failed (the
        server keeps running unchanged), 2 bad arguments or no server.
        --timeout: seconds to wait (default 90).
check   validates the config, loads the app module, prints the resolved config
        (--sources: each key's value and where it came from instead).
config  prints the defaults (YAML), the config's JSON Schema (draft-07) or
        the SHARDLINE_* environment variables, one per config key.

Flags override SHARDLINE_* environment variables, which override the config
file, which overrides the defaults.
Exit codes: 0 clean drain, 1 drain forced or a shard failed, 2 bad config or arguments.`;

export const CONFIG_WHATS = ['defaults', 'schema', 'env'] as const;
export type ConfigWhat = (typeof CONFIG_WHATS)[number];

export interface Command {
  name: 'start' | 'check' | 'help' | 'version' | 'bench' | 'config' | 'reload';
  /** `config` only: what to print. */
  what?: ConfigWhat;
  /** `check` only: print each key's source. */
  sources?: boolean;
  configFile?: string | undefined;
  overrides: ConfigOverrides;
  /** `bench` only: the arguments after `bench`, untouched (src/loadgen/cli.ts parses them). */
  argv?: string[];
  /** `reload` only: how long to wait for the roll, in ms. */
  timeoutMs?: number;
}

function argsError(message: string): ShardlineError {
  return new ShardlineError(ErrorCode.ARGS_INVALID, `command line: ${message}`);
}

function int(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw argsError(`${flag}: expected a whole number, got '${value}'`);
  return Number(value);
}

function parseFlags(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      config: { type: 'string', short: 'c' },
      port: { type: 'string', short: 'p' },
      host: { type: 'string' },
      shards: { type: 'string' },
      app: { type: 'string' },
      sources: { type: 'boolean' },
      'pid-file': { type: 'string' },
      timeout: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'v' },
    },
  });
}

export function parseCommand(argv: string[]): Command {
  if (argv[0] === 'bench') return { name: 'bench', overrides: {}, argv: argv.slice(1) };
  let parsed: ReturnType<typeof parseFlags>;
  try {
    parsed = parseFlags(argv);
  } catch (err) {
    throw argsError((err as Error).message.split('\n')[0] ?? 'invalid arguments');
  }
  const { values, positionals } = parsed;
  if (values.help === true) return { name: 'help', overrides: {} };
  if (values.version === true) return { name: 'version', overrides: {} };
  const [name, ...rest] = positionals;
  if (name === undefined) throw argsError(`a command is required (start, check, reload or config)\n${USAGE}`);
  if (name === 'config') {
    const what = rest[0];
    if (!CONFIG_WHATS.includes(what as ConfigWhat))
      throw argsError(`config: expected ${CONFIG_WHATS.join(', ')}${what === undefined ? '' : `, got '${what}'`}`);
    if (rest.length > 1) throw argsError(`unexpected argument '${rest[1]}'`);
    return { name, what: what as ConfigWhat, overrides: {} };
  }
  if (name !== 'start' && name !== 'check' && name !== 'reload') throw argsError(`unknown command '${name}' (start, check, reload or config)`);
  if (rest.length > 0) throw argsError(`unexpected argument '${rest[0]}'`);
  if (name === 'check' && values.config === undefined) throw argsError('check needs --config FILE');
  const shards = values.shards === undefined || values.shards === 'auto' ? values.shards : int('--shards', values.shards);
  if (values.host === '') throw argsError('--host: must not be empty');
  if (values.sources === true && name !== 'check') throw argsError('--sources is for check');
  if (values['pid-file'] === '') throw argsError('--pid-file: must not be empty');
  if (name === 'reload' && values['pid-file'] === undefined && values.config === undefined)
    throw argsError('reload needs --pid-file FILE or --config FILE (with pidFile)');
  if (values.timeout !== undefined && name !== 'reload') throw argsError('--timeout: only for reload');
  const timeout = int('--timeout', values.timeout);
  if (timeout === 0) throw argsError('--timeout: must be at least 1 second');
  return {
    name,
    sources: values.sources === true,
    configFile: values.config,
    overrides: {
      port: int('--port', values.port),
      host: values.host,
      shards: shards as number | 'auto' | undefined,
      app: values.app,
      pidFile: values['pid-file'],
    },
    ...(name === 'reload' ? { timeoutMs: (timeout ?? 90) * 1000 } : {}),
  };
}
