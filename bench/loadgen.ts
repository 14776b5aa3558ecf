/**
 * The load generator measured (node dist/bench/loadgen.js [--quick]).
 *
 * 1. Its own ceiling: one client thread (`--threads 1`) against the raw uWS.js
 *    echo baseline (the cheapest server here), closed model with 1,000
 *    messages in flight, then the open model at rising rates until the client
 *    cannot keep the rate (under 95 % of it answered per second) or its loop is
 *    above 80 % busy. Figures above that are the client's, not the server's.
 *    Late sends are reported: on a shared machine other processes delay the
 *    client's timers too.
 * 2. The stall comparison: a `ws` echo server that blocks its event loop
 *    200 ms once a second (test/fixtures/ws-echo-server.mjs), measured in the
 *    open model (--rate) and the closed model (--inflight).
 *
 * Prints one JSON object (environment, every run) and a markdown summary.
 */
import { fileURLToPath } from 'node:url';
import { environment } from '../src/loadgen/environment.js';
import { runLoad, type LoadResult } from '../src/loadgen/load.js';
import { startServerCommand } from '../src/loadgen/server-proc.js';
import { serverCommand } from './servers.js';

const quick = process.argv.includes('--quick');
const DURATION_MS = quick ? 4_000 : 10_000;
const WARMUP_MS = 2_000;
const STALL_SERVER = fileURLToPath(new URL('../../test/fixtures/ws-echo-server.mjs', import.meta.url));

interface Row {
  what: string;
  mode: 'open' | 'closed';
  target: number;
  perSec: number;
  latePct: number;
  p50: number;
  p99: number;
  max: number;
  clientLoop: number;
  clientCpu: number;
}

function row(what: string, r: LoadResult, target: number): Row {
  return {
    what,
    mode: r.mode,
    target,
    perSec: r.messages.perSec,
    latePct: r.messages.sent > 0 ? Math.round((r.messages.late / r.messages.sent) * 1000) / 10 : 0,
    p50: r.latency.p50,
    p99: r.latency.p99,
    max: r.latency.maxMs,
    clientLoop: r.client.loopUtilizationMax,
    clientCpu: r.client.cpuPercent,
  };
}

async function load(url: string, connections: number, rate: number, inflight: number, threads: number): Promise<LoadResult> {
  return runLoad({
    url,
    connections,
    connectRate: 5_000,
    rate,
    inflight,
    durationMs: DURATION_MS,
    warmupMs: WARMUP_MS,
    messages: 0,
    size: 32,
    threads,
    processes: 0,
    localAddresses: [],
  });
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  const log = (r: Row): void => void process.stderr.write(`${JSON.stringify(r)}\n`);
  const uws = await startServerCommand(serverCommand('uws-raw', false));
  try {
    const url = `ws://127.0.0.1:${uws.port}/`;
    rows.push(row('ceiling, closed, 1 thread', await load(url, 50, 0, 20, 1), 0));
    log(rows.at(-1) as Row);
    for (const rate of quick ? [10_000, 20_000, 40_000] : [10_000, 20_000, 30_000, 40_000, 60_000]) {
      const r = row('ceiling, open, 1 thread', await load(url, 50, rate, 1, 1), rate);
      rows.push(r);
      log(r);
      if (r.perSec < rate * 0.95 || r.clientLoop > 0.8) break;
    }
  } finally {
    await uws.kill();
  }
  const stall = await startServerCommand(`${JSON.stringify(process.execPath)} ${JSON.stringify(STALL_SERVER)}`, {
    env: { STALL_MS: '200', STALL_EVERY_MS: '1000' },
  });
  try {
    const url = `ws://127.0.0.1:${stall.port}/`;
    rows.push(row('stall 200 ms/s, open', await load(url, 10, 1_000, 1, 2), 1_000));
    log(rows.at(-1) as Row);
    rows.push(row('stall 200 ms/s, closed', await load(url, 10, 0, 1, 2), 0));
    log(rows.at(-1) as Row);
  } finally {
    await stall.kill();
  }
  process.stdout.write(`${JSON.stringify({ environment: environment(), durationMs: DURATION_MS, warmupMs: WARMUP_MS, rows })}\n\n`);
  process.stdout.write(
    '| run | model | target msg/s | achieved msg/s | late sends | p50 ms | p99 ms | max ms | client loop | client CPU |\n|---|---|---|---|---|---|---|---|---|---|\n',
  );
  for (const r of rows) {
    process.stdout.write(
      `| ${r.what} | ${r.mode} | ${r.target || '-'} | ${r.perSec} | ${r.latePct} % | ${r.p50} | ${r.p99} | ${r.max} | ${Math.round(r.clientLoop * 100)} % | ${r.clientCpu} % |\n`,
    );
  }
}

await main();
