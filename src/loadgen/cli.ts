/**
 * `shardline bench load|drain|http-drain ...`: argument parsing and output.
 * Returns the exit code: 0 done, 1 the run failed, 2 bad arguments.
 */
import { parseArgs } from 'node:util';
import { runDrain, type DrainResult } from './drain.js';
import { runHttpDrain } from './http-drain.js';
import { runLoad, type LoadResult } from './load.js';
import { progress } from './progress.js';

export const BENCH_USAGE = `Usage:
  shardline bench load --url ws://HOST:PORT/PATH --connections N [--rate R] [--duration S | --messages M]
                       [--size BYTES] [--inflight K] [--threads T] [--processes P] [--json]
  shardline bench drain --server 'CMD' --connections N [--inflight K] [--handler-ms MS] [--rate R]
                        [--host H] [--path P] [--threads T] [--processes P] [--exit-timeout S] [--json]
  shardline bench http-drain --server 'CMD' --connections N [--path /slow] [--handler-ms MS] [--json]

load    N echo clients (opened at R per second, default 5000), K round trips in flight on each
        (default 1), for S seconds (default 10) or M messages in all; messages are binary, BYTES
        long (default 32). Reports connects, messages/s, latency p50/p90/p99/max, close codes.
drain   starts CMD with 'sh -c "exec CMD"' (CMD must print a JSON line {"msg":"ready","port":N};
        give it --port 0), opens N connections, keeps K requests in flight on each (default 0:
        idle), sends SIGTERM and measures the drain. --handler-ms is exported to CMD as
        SHARDLINE_BENCH_HANDLER_MS (bench/apps/slow-echo.js and the baselines read it).
http-drain  autocannon against an HTTP route of CMD that takes MS (the ws baseline's /slow;
        shardline has no slow HTTP route), SIGTERM after 1 s: counts failed in-flight requests.

Above 15,000 connections the clients are spread over child processes, each binding its own
source address 127.0.0.2, 127.0.0.3, ... (one process may hold at most 20,000 descriptors);
--processes P forces P child processes at any N.`;

class ArgsError extends Error {}

function num(flag: string, value: string | undefined, fallback: number, min = 0): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n < min) throw new ArgsError(`--${flag}: expected a number >= ${min}, got '${value}'`);
  return n;
}

function parse(argv: string[]) {
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
        duration: { type: 'string', short: 'd' },
        messages: { type: 'string' },
        size: { type: 'string' },
        inflight: { type: 'string' },
        'handler-ms': { type: 'string' },
        threads: { type: 'string' },
        processes: { type: 'string' },
        host: { type: 'string' },
        path: { type: 'string' },
        'exit-timeout': { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    throw new ArgsError((err as Error).message.split('\n')[0] ?? 'invalid arguments');
  }
}

function printLoad(r: LoadResult): void {
  const lines = [
    `url            ${r.url}`,
    `connections    ${r.connections.opened} opened, ${r.connections.failed} failed, ${r.connections.perSec}/s over ${r.connections.openMs} ms`,
    `messages       ${r.messages.received} of ${r.messages.sent} answered in ${r.messages.durationMs} ms: ${r.messages.perSec}/s`,
    `latency ms     p50 ${r.latencyMs.p50}  p90 ${r.latencyMs.p90}  p99 ${r.latencyMs.p99}  max ${r.latencyMs.max}`,
    `close codes    ${JSON.stringify(r.closeCodes)}`,
    `errors         ${JSON.stringify(r.errors)}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

function printDrain(r: DrainResult): void {
  const ms = (v: number | null): string => (v === null ? '-' : `${v} ms`);
  const lines = [
    `server                 ${r.server}`,
    `connections            ${r.connections.opened} opened, ${r.connections.failed} failed; ${r.inflight} in flight each, handler ${r.handlerMs} ms`,
    `signal → first close   ${ms(r.signalToFirstCloseFrameMs)}`,
    `signal → last close    ${ms(r.signalToLastCloseFrameMs)} (frame), ${ms(r.signalToLastClientClosedMs)} (socket)`,
    `signal → exit          ${ms(r.signalToExitMs)}, exit code ${r.exitCode ?? 'none (killed)'}`,
    `replies lost           ${r.repliesLost} of ${r.requestsSent} requests${r.lostSentBeforeSignalMs !== null ? `, sent ${r.lostSentBeforeSignalMs[0]}..${r.lostSentBeforeSignalMs[1]} ms before the signal` : ''} (${r.unansweredAfterSignal} sent after the signal unanswered)`,
    `server's own drain     ${ms(r.serverReportedDrainMs)}; server CPU during the drain ${r.serverCpuDuringDrainMs} ms; busiest client loop ${Math.round(r.clientLoopUtilizationMax * 100)}% busy`,
    `close codes            ${JSON.stringify(r.closeCodes)}`,
    `new connection         ${r.newConnectionAfterSignal}`,
    `server RSS             ${(r.serverRss.emptyBytes / 2 ** 20).toFixed(1)} MiB empty, ${(r.serverRss.connectedBytes / 2 ** 20).toFixed(1)} MiB connected, ${r.serverRss.perConnectionBytes} B per connection`,
    `errors                 ${JSON.stringify(r.errors)}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

export async function runBench(argv: string[]): Promise<number> {
  try {
    const { values, positionals } = parse(argv);
    const [sub, ...rest] = positionals;
    if (values.help === true || sub === undefined) {
      process.stdout.write(`${BENCH_USAGE}\n`);
      return values.help === true ? 0 : 2;
    }
    if (rest.length > 0) throw new ArgsError(`unexpected argument '${rest[0]}'`);
    const connections = num('connections', values.connections, NaN, 1);
    if (Number.isNaN(connections)) throw new ArgsError('--connections N is required');
    const rate = num('rate', values.rate, 5_000, 1);
    const threads = num('threads', values.threads, 2, 1);
    const processes = num('processes', values.processes, 0, 0);
    switch (sub) {
      case 'load': {
        if (values.url === undefined || !/^wss?:\/\//.test(values.url)) throw new ArgsError('--url ws://HOST:PORT/PATH is required');
        if (values.duration !== undefined && values.messages !== undefined) throw new ArgsError('give --duration or --messages, not both');
        const messages = num('messages', values.messages, 0, 1);
        const result = await runLoad({
          url: values.url,
          connections,
          rate,
          durationMs: messages > 0 ? 600_000 : num('duration', values.duration, 10, 0.1) * 1000,
          messages,
          size: num('size', values.size, 32, 1),
          inflight: num('inflight', values.inflight, 1, 1),
          threads,
          processes,
        }, { progress: progress(values.json !== true && process.stderr.isTTY === true) });
        if (values.json === true) process.stdout.write(`${JSON.stringify(result)}\n`);
        else printLoad(result);
        return result.connections.opened > 0 ? 0 : 1;
      }
      case 'drain': {
        if (values.server === undefined || values.server.trim() === '') throw new ArgsError("--server 'CMD' is required");
        const result = await runDrain({
          server: values.server,
          connections,
          inflight: num('inflight', values.inflight, 0, 0),
          handlerMs: num('handler-ms', values['handler-ms'], 0, 0),
          rate,
          threads,
          processes,
          host: values.host ?? '127.0.0.1',
          path: values.path ?? '/',
          exitTimeoutMs: num('exit-timeout', values['exit-timeout'], 30, 1) * 1000,
        });
        if (values.json === true) process.stdout.write(`${JSON.stringify(result)}\n`);
        else printDrain(result);
        return 0;
      }
      case 'http-drain': {
        if (values.server === undefined || values.server.trim() === '') throw new ArgsError("--server 'CMD' is required");
        const result = await runHttpDrain({
          server: values.server,
          path: values.path ?? '/slow',
          host: values.host ?? '127.0.0.1',
          connections,
          handlerMs: num('handler-ms', values['handler-ms'], 100, 0),
          signalAfterMs: 1_000,
          exitTimeoutMs: num('exit-timeout', values['exit-timeout'], 10, 1) * 1000,
        });
        process.stdout.write(`${JSON.stringify(result, null, values.json === true ? undefined : 2)}\n`);
        return 0;
      }
      default:
        throw new ArgsError(`unknown bench command '${sub}' (load, drain or http-drain)`);
    }
  } catch (err) {
    if (err instanceof ArgsError) {
      process.stderr.write(`shardline bench: ${err.message}\n`);
      return 2;
    }
    process.stderr.write(`shardline bench: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}
