/**
 * `npm run bench [-- --quick]`: the benchmark matrix.
 *
 * Every server runs as its own child process (bench/servers.ts) and the load
 * comes from `ws` clients in other threads/processes (src/loadgen). Servers are
 * alternated inside each repetition (the order rotates), each figure is the
 * median of the repetitions, and everything lands in bench/results/:
 * <stamp>.json (raw runs, medians, Node version, CPU, options), <stamp>.md
 * (tables with ratios to the baselines) and two SVG charts. A full run also
 * rewrites the results section of docs/BENCHMARKS.md.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { runDrain, waitAccepting, type DrainResult } from '../src/loadgen/drain.js';
import { runHttpDrain, type HttpDrainResult } from '../src/loadgen/http-drain.js';
import { runLoad, type LoadResult } from '../src/loadgen/load.js';
import { cpuMs } from '../src/loadgen/proc-stats.js';
import { startServerCommand } from '../src/loadgen/server-proc.js';
import { renderCharts, renderMarkdown, summarize, type DrainRun, type LoadRun, type Matrix } from './report.js';
import { ROOT, SERVERS, serverCommand, type ServerName } from './servers.js';

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: { quick: { type: 'boolean' }, reps: { type: 'string' }, render: { type: 'string' } },
});
const quick = values.quick === true;

const options = {
  quick,
  reps: Number(values.reps ?? (quick ? 1 : 3)),
  drainConnections: quick ? [200, 1_000] : [1_000, 5_000, 19_000],
  handlerMs: 100,
  inflightDrain: 1,
  connectRate: 5_000,
  clientThreads: 2,
  throughput: { connections: 64, inflight: 16, sizes: [32, 4_096], durationMs: quick ? 2_000 : 5_000 },
  httpDrain: { connections: 50, handlerMs: 100 },
};

const log = (s: string): void => void process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${s}\n`);
const rotate = <T>(xs: readonly T[], k: number): T[] => xs.map((_, i) => xs[(i + k) % xs.length] as T);

async function drainRun(server: ServerName, connections: number, scenario: 'idle' | 'inflight', rep: number): Promise<DrainRun> {
  const slow = scenario === 'inflight';
  try {
    const result: DrainResult = await runDrain({
      server: serverCommand(server, slow),
      connections,
      inflight: slow ? options.inflightDrain : 0,
      handlerMs: slow ? options.handlerMs : 0,
      rate: options.connectRate,
      threads: options.clientThreads,
      host: '127.0.0.1',
      path: '/',
      exitTimeoutMs: 30_000,
    });
    log(
      `drain ${scenario} ${connections} ${server}: last close ${result.signalToLastClientClosedMs} ms, exit ${result.signalToExitMs} ms, lost ${result.repliesLost}/${result.requestsSent}, codes ${JSON.stringify(result.closeCodes)}, exit ${result.exitCode}`,
    );
    return { server, connections, scenario, rep, result };
  } catch (err) {
    log(`drain ${scenario} ${connections} ${server}: FAILED ${(err as Error).message}`);
    return { server, connections, scenario, rep, error: (err as Error).message };
  }
}

async function loadRun(server: ServerName, size: number, rep: number): Promise<LoadRun> {
  const srv = await startServerCommand(serverCommand(server, false));
  try {
    await waitAccepting('127.0.0.1', srv.port);
    let cpu0 = NaN;
    let cpu1 = NaN;
    const t = options.throughput;
    const result: LoadResult = await runLoad(
      {
        url: `ws://127.0.0.1:${srv.port}/`,
        connections: t.connections,
        connectRate: options.connectRate,
        rate: 0,
        durationMs: t.durationMs,
        warmupMs: 0,
        messages: 0,
        size,
        inflight: t.inflight,
        threads: options.clientThreads,
        processes: 0,
        localAddresses: [],
      },
      { onLoadStart: () => (cpu0 = cpuMs(srv.pid)), onLoadEnd: () => (cpu1 = cpuMs(srv.pid)) },
    );
    const serverCpuMs = cpu1 - cpu0;
    const cpuUsPerMessage = result.messages.received > 0 ? (serverCpuMs * 1000) / result.messages.received : NaN;
    log(`echo ${size} B ${server}: ${result.messages.perSec} msg/s, p99 ${result.latency.p99} ms, ${cpuUsPerMessage.toFixed(2)} µs CPU/msg`);
    return { server, size, rep, result, serverCpuMs, cpuUsPerMessage };
  } catch (err) {
    log(`echo ${size} B ${server}: FAILED ${(err as Error).message}`);
    return { server, size, rep, error: (err as Error).message };
  } finally {
    srv.child.kill('SIGTERM');
    const timer = setTimeout(() => void srv.kill(), 10_000);
    await srv.exited;
    clearTimeout(timer);
  }
}

async function main(): Promise<void> {
  const started = Date.now();
  const drains: DrainRun[] = [];
  const loads: LoadRun[] = [];
  let http: HttpDrainResult | { error: string };
  let turn = 0;
  for (const connections of options.drainConnections) {
    for (const scenario of ['idle', 'inflight'] as const) {
      for (let rep = 0; rep < options.reps; rep++) {
        for (const server of rotate(SERVERS, turn++)) drains.push(await drainRun(server, connections, scenario, rep));
      }
    }
  }
  for (const size of options.throughput.sizes) {
    for (let rep = 0; rep < options.reps; rep++) {
      for (const server of rotate(SERVERS, turn++)) loads.push(await loadRun(server, size, rep));
    }
  }
  try {
    http = await runHttpDrain({
      server: serverCommand('ws', true),
      path: '/slow',
      host: '127.0.0.1',
      connections: options.httpDrain.connections,
      handlerMs: options.httpDrain.handlerMs,
      signalAfterMs: 1_000,
      exitTimeoutMs: 10_000,
    });
    log(`http drain ws: failed in flight ${http.failedInFlight}, exit ${http.exitCode}`);
  } catch (err) {
    http = { error: (err as Error).message };
  }

  const cpus = os.cpus();
  write({
    date: new Date().toISOString(),
    durationSec: Math.round((Date.now() - started) / 1000),
    node: process.version,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    cpu: { model: cpus[0]?.model ?? 'unknown', count: cpus.length },
    totalMemoryBytes: os.totalmem(),
    options,
    drains,
    loads,
    http,
    summary: summarize(drains, loads),
  });
}

/** Writes the JSON, markdown and charts of a matrix (and, for a full run, the section of docs/BENCHMARKS.md). */
function write(matrix: Matrix, fresh = true): void {
  const quick = matrix.options.quick === true;
  const stamp = `${matrix.date.slice(0, 19).replace(/:/g, '-')}${quick ? '-quick' : ''}`;
  const dir = `${ROOT}bench/results/`;
  mkdirSync(dir, { recursive: true });
  const charts = renderCharts(matrix);
  const prefix = quick ? 'quick-' : '';
  writeFileSync(`${dir}${prefix}drain.svg`, charts.drain);
  writeFileSync(`${dir}${prefix}throughput.svg`, charts.throughput);
  if (fresh) writeFileSync(`${dir}${stamp}.json`, `${JSON.stringify(matrix, null, 2)}\n`);
  const md = renderMarkdown(matrix, { drainSvg: `${prefix}drain.svg`, throughputSvg: `${prefix}throughput.svg` });
  writeFileSync(`${dir}${stamp}.md`, md);
  if (!quick) {
    // The section between the markers in docs/BENCHMARKS.md is generated.
    const docPath = `${ROOT}docs/BENCHMARKS.md`;
    const doc = readFileSync(docPath, 'utf8');
    const begin = '<!-- results:begin -->';
    const end = '<!-- results:end -->';
    const a = doc.indexOf(begin);
    const b = doc.indexOf(end);
    if (a >= 0 && b > a) {
      const section = renderMarkdown(matrix, {
        drainSvg: '../bench/results/drain.svg',
        throughputSvg: '../bench/results/throughput.svg',
        source: `../bench/results/${stamp}.json`,
      });
      writeFileSync(docPath, `${doc.slice(0, a + begin.length)}\n${section}\n${doc.slice(b)}`);
    }
  }
  process.stdout.write(md);
  log(`done in ${matrix.durationSec} s: bench/results/${stamp}.json`);
}

/** --render FILE.json: redo the tables, charts and docs section of an earlier run without running anything. */
async function render(file: string): Promise<void> {
  const matrix = JSON.parse(readFileSync(file, 'utf8')) as Matrix;
  matrix.summary = summarize(matrix.drains, matrix.loads);
  write(matrix, false);
}

(values.render !== undefined ? render(values.render) : main()).then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
