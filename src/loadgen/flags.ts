/** Command-line flags of `shardline bench`, and the checks on their values. */
import { isIP } from 'node:net';
import { parseArgs } from 'node:util';

export class ArgsError extends Error {}

export function parseFlags(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        url: { type: 'string' },
        server: { type: 'string' },
        connections: { type: 'string', short: 'c' },
        rate: { type: 'string' },
        'connect-rate': { type: 'string' },
        duration: { type: 'string', short: 'd' },
        warmup: { type: 'string' },
        messages: { type: 'string' },
        size: { type: 'string' },
        inflight: { type: 'string' },
        'handler-ms': { type: 'string' },
        threads: { type: 'string' },
        processes: { type: 'string' },
        'local-address': { type: 'string' },
        host: { type: 'string' },
        path: { type: 'string' },
        port: { type: 'string' },
        'ready-regex': { type: 'string' },
        signal: { type: 'string' },
        'exit-timeout': { type: 'string' },
        subscribers: { type: 'string' },
        publishers: { type: 'string' },
        topics: { type: 'string' },
        tail: { type: 'string' },
        'subscribe-template': { type: 'string' },
        'publish-template': { type: 'string' },
        start: { type: 'string' },
        step: { type: 'string' },
        max: { type: 'string' },
        'step-duration': { type: 'string' },
        'rate-per-connection': { type: 'string' },
        'limit-p99': { type: 'string' },
        threshold: { type: 'string', multiple: true },
        json: { type: 'boolean' },
        'progress-json': { type: 'boolean' },
        report: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    throw new ArgsError((err as Error).message.split('\n')[0] ?? 'invalid arguments');
  }
}

export type Flags = ReturnType<typeof parseFlags>['values'];

export function num(flag: string, value: string | undefined, fallback: number, min = 0): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < min) throw new ArgsError(`--${flag}: expected a number >= ${min}, got '${value}'`);
  return n;
}

export function int(flag: string, value: string | undefined, fallback: number, min = 0): number {
  const n = num(flag, value, fallback, min);
  if (!Number.isInteger(n)) throw new ArgsError(`--${flag}: expected a whole number, got '${value}'`);
  return n;
}

export function requireUrl(v: Flags): string {
  if (v.url === undefined || !/^wss?:\/\/[^/]/.test(v.url)) throw new ArgsError('--url ws://HOST:PORT/PATH is required');
  try {
    new URL(v.url);
  } catch {
    throw new ArgsError(`--url: not a URL: '${v.url}'`);
  }
  return v.url;
}

export function requireServer(v: Flags): string {
  if (v.server === undefined || v.server.trim() === '') throw new ArgsError("--server 'CMD' is required");
  return v.server;
}

export function localAddresses(v: Flags): string[] {
  if (v['local-address'] === undefined) return [];
  const list = v['local-address'].split(',').map((a) => a.trim());
  for (const a of list) if (isIP(a) === 0) throw new ArgsError(`--local-address: '${a}' is not an IP address`);
  return list;
}

export function connectRate(v: Flags): number {
  return num('connect-rate', v['connect-rate'], 5_000, 1);
}

export function threadsAndProcesses(v: Flags): { threads: number; processes: number } {
  return { threads: int('threads', v.threads, 2, 1), processes: int('processes', v.processes, 0, 0) };
}

const SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'] as const;
export type DrainSignal = (typeof SIGNALS)[number];

export function drainSignal(v: Flags): DrainSignal {
  const s = (v.signal ?? 'SIGTERM').toUpperCase();
  const full = s.startsWith('SIG') ? s : `SIG${s}`;
  if (!(SIGNALS as readonly string[]).includes(full)) throw new ArgsError(`--signal: expected one of ${SIGNALS.join(', ')}, got '${v.signal}'`);
  return full as DrainSignal;
}

export function readyRegex(v: Flags): RegExp | undefined {
  if (v['ready-regex'] === undefined) return undefined;
  try {
    return new RegExp(v['ready-regex']);
  } catch (err) {
    throw new ArgsError(`--ready-regex: ${(err as Error).message}`);
  }
}
