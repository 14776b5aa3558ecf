/**
 * What metrics cost on the message path: the echo load against one server
 * with metrics off and with metrics on (scraped every second, 15x Prometheus's
 * default rate); the median of each, and their ratio.
 *
 * On a shared machine the load of other jobs swings from run to run by far
 * more than the 3 % in question, so by default each round runs the variants
 * at the same time (--paired, each with its own server and load generator):
 * both see the same machine, and the figure is the median of the per-round
 * ratios. --sequential alternates them instead, rotating the order per round.
 *
 *   npm run build && node dist/bench/metrics-overhead.js [--rounds 7] [--duration 5]
 *       [--connections 50] [--inflight 8] [--shards 1] [--scrape-ms 1000] [--sequential]
 *       [--baseline-cli DIR/dist/src/cli/main.js]
 *
 * --baseline-cli adds a third variant: the same load against another build
 * (e.g. `main` before the metrics code), to see the cost of counting itself,
 * which "off" also pays (with metrics off the shards count into private memory).
 * Each run starts its own server (separate process) and its own load
 * generator (`shardline bench load`, a second process) and waits for `ready`.
 * Besides messages/s it records the server's CPU time per message from /proc,
 * which a busy shared machine disturbs less than throughput.
 * Results go to bench/results/metrics-overhead-<time>.json.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ShardMeter } from '../src/metrics/shard-meter.js';
import { SlotPool } from '../src/metrics/slot-pool.js';

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const RESULTS = fileURLToPath(new URL('../../bench/results/', import.meta.url));

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '7' },
    duration: { type: 'string', default: '5' },
    connections: { type: 'string', default: '50' },
    inflight: { type: 'string', default: '8' },
    shards: { type: 'string', default: '1' },
    'baseline-cli': { type: 'string' },
    sequential: { type: 'boolean', default: false },
    /** How often the "on" server is scraped, in ms; 0 = never (separates the scrape's cost from the counting's). */
    'scrape-ms': { type: 'string', default: '1000' },
  },
});

type Variant = 'off' | 'on' | 'baseline';
interface Run {
  variant: Variant;
  round: number;
  perSec: number;
  /** Server CPU (all threads, its timers included) per message, in microseconds. */
  cpuUsPerMsg: number;
  scrapes: number;
}

/** A free port below the ephemeral range (see test/helpers/prometheus.ts: other jobs' connects cannot take it). */
async function freePort(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const srv = createServer();
    const ok = await new Promise<boolean>((resolve) => {
      srv.once('error', () => resolve(false));
      srv.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (ok) {
      await new Promise<void>((r) => srv.close(() => r()));
      return port;
    }
  }
}

/** CPU time of a process (user + system, every thread) in ms; USER_HZ is 100 on Linux. */
function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100;
}

async function runOnce(variant: Variant, round: number, dir: string): Promise<Run> {
  const metricsPort = variant === 'on' ? await freePort() : 0;
  const config = join(dir, `${variant}-${round}.json`);
  // The baseline build may not know the metrics key: give it none.
  writeFileSync(config, JSON.stringify(variant === 'baseline' ? {} : { metrics: { port: metricsPort, host: '127.0.0.1' } }));
  const cli = variant === 'baseline' ? (args['baseline-cli'] as string) : CLI;
  const server = spawn(process.execPath, [cli, 'start', '--port', '0', '--host', '127.0.0.1', '--shards', args.shards, '--config', config], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = once(server, 'exit');
  let out = '';
  const port = await new Promise<number>((resolve, reject) => {
    server.stdout.setEncoding('utf8');
    server.stdout.on('data', (c: string) => {
      out += c;
      const m = /"port":(\d+)[^\n]*"msg":"ready"/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    void exited.then(() => reject(new Error(`server exited before ready: ${out}`)));
  });
  let scrapes = 0;
  const scrapeMs = Number(args['scrape-ms']);
  const scraper =
    variant === 'on' && scrapeMs > 0
      ? setInterval(() => {
          void fetch(`http://127.0.0.1:${metricsPort}/metrics`).then(
            (r) => r.text().then(() => scrapes++),
            () => {},
          );
        }, scrapeMs)
      : undefined;
  const startLoad = () =>
    spawn(
      process.execPath,
      [
        CLI,
        'bench',
        'load',
        '--url',
        `ws://127.0.0.1:${port}/`,
        '--connections',
        args.connections,
        '--inflight',
        args.inflight,
        '--duration',
        args.duration,
        '--json',
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
  // CPU is sampled over the whole load run (connects are a small, equal share in every variant).
  // It includes the server's timers, which no message causes: at low throughput they dominate.
  const cpu0 = cpuMs(server.pid as number);
  const load = startLoad();
  let loadOut = '';
  load.stdout.setEncoding('utf8');
  load.stdout.on('data', (c: string) => (loadOut += c));
  await once(load, 'exit');
  const cpu1 = cpuMs(server.pid as number);
  clearInterval(scraper);
  server.kill('SIGTERM');
  await exited;
  const result = JSON.parse(loadOut.trim().split('\n').pop() as string) as { messages: { received: number; perSec: number } };
  return { variant, round, perSec: result.messages.perSec, cpuUsPerMsg: ((cpu1 - cpu0) * 1000) / result.messages.received, scrapes };
}

/**
 * The counting itself, in process: what one echoed message adds on a shard
 * (one receive, one send, one sample check), in ns, into a shared slot (on)
 * and into private memory (off). End-to-end runs on a busy 2-core box swing by
 * more than the 3 % budget; this figure does not, and set against the CPU a
 * message costs the server it bounds the overhead from below.
 */
function microNsPerMessage(shared: boolean): number {
  const pool = new SlotPool(1);
  const meter = new ShardMeter(shared ? pool.allocate(0) : undefined);
  const N = 20_000_000;
  let sampled = 0;
  const run = (): number => {
    const t0 = performance.now();
    for (let i = 0; i < N; i++) {
      meter.received(32);
      if (meter.sample()) sampled++;
      meter.sent(32);
    }
    return ((performance.now() - t0) * 1e6) / N;
  };
  run(); // warm-up (JIT)
  const best = Math.min(run(), run(), run());
  if (sampled < 0) throw new Error('unreachable'); // keeps the sample() calls observable
  return best;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
};

async function main(): Promise<void> {
  const loadBefore = loadavg()[0];
  const micro = { sharedNsPerMessage: microNsPerMessage(true), privateNsPerMessage: microNsPerMessage(false) };
  process.stderr.write(`counting per echoed message: ${micro.sharedNsPerMessage.toFixed(1)} ns shared, ${micro.privateNsPerMessage.toFixed(1)} ns private\n`);
  const dir = mkdtempSync(join(tmpdir(), 'shardline-metrics-bench-'));
  const variants: Variant[] = args['baseline-cli'] !== undefined ? ['off', 'on', 'baseline'] : ['off', 'on'];
  const runs: Run[] = [];
  const rounds = Number(args.rounds);
  for (let round = 0; round < rounds; round++) {
    // Rotate the order each round so neither variant always runs first (or on a warmer machine).
    const order = variants.map((_, i) => variants[(i + round) % variants.length] as Variant);
    const results: Run[] = [];
    if (args.sequential) for (const v of order) results.push(await runOnce(v, round, dir));
    else results.push(...(await Promise.all(order.map((v) => runOnce(v, round, dir)))));
    for (const run of results) {
      runs.push(run);
      process.stderr.write(`round ${round + 1}/${rounds} ${run.variant.padEnd(8)} ${Math.round(run.perSec)} msg/s, ${run.cpuUsPerMsg.toFixed(2)} µs CPU/msg\n`);
    }
  }
  const perRound = (v: Variant, key: 'perSec' | 'cpuUsPerMsg'): number[] =>
    Array.from({ length: rounds }, (_, r) => {
      const a = runs.find((x) => x.round === r && x.variant === v);
      const b = runs.find((x) => x.round === r && x.variant === 'off');
      return (a?.[key] ?? NaN) / (b?.[key] ?? NaN);
    });
  const summary = Object.fromEntries(
    variants.map((v) => {
      const mine = runs.filter((r) => r.variant === v);
      return [v, { perSec: median(mine.map((r) => r.perSec)), cpuUsPerMsg: median(mine.map((r) => r.cpuUsPerMsg)) }];
    }),
  ) as Record<Variant, { perSec: number; cpuUsPerMsg: number }>;
  // Paired rounds: the median of the per-round ratios; sequential: the ratio of the medians.
  const ratio = args.sequential ? summary.on.perSec / summary.off.perSec : median(perRound('on', 'perSec'));
  const cpuRatio = args.sequential ? summary.on.cpuUsPerMsg / summary.off.cpuUsPerMsg : median(perRound('on', 'cpuUsPerMsg'));
  const baselineRatio =
    summary.baseline === undefined
      ? undefined
      : args.sequential
        ? summary.off.perSec / summary.baseline.perSec
        : median(perRound('baseline', 'perSec').map((x) => 1 / x));
  const report = {
    bench: 'metrics-overhead',
    at: new Date().toISOString(),
    node: process.version,
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    /** 1-minute load average before and after: on a shared machine, the context every figure needs. */
    loadAverage: { before: loadBefore, after: loadavg()[0] },
    options: { ...args },
    micro,
    /** The counting's share of the server's CPU per message (metrics on, median). */
    countingShareOfCpu: micro.sharedNsPerMessage / 1000 / summary.on.cpuUsPerMsg,
    summary,
    throughputOnOverOff: ratio,
    cpuPerMessageOnOverOff: cpuRatio,
    mode: args.sequential ? 'sequential' : 'paired',
    ...(baselineRatio !== undefined ? { throughputOffOverBaseline: baselineRatio } : {}),
    runs,
  };
  mkdirSync(RESULTS, { recursive: true });
  const file = join(RESULTS, `metrics-overhead-${report.at.slice(0, 16).replace(/:/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  const line = (v: Variant): string => `${v.padEnd(9)} median ${Math.round(summary[v].perSec)} msg/s, ${summary[v].cpuUsPerMsg.toFixed(2)} µs CPU/msg`;
  process.stdout.write(
    [
      ...variants.map(line),
      `counting: ${micro.sharedNsPerMessage.toFixed(1)} ns per echoed message = ${((micro.sharedNsPerMessage / 1000 / summary.on.cpuUsPerMsg) * 100).toFixed(2)} % of the server's CPU per message`,
      `on/off throughput ${ratio.toFixed(3)} (${((ratio - 1) * 100).toFixed(1)} %), CPU per message ${cpuRatio.toFixed(3)}`,
      ...(baselineRatio !== undefined ? [`off/baseline throughput ${baselineRatio.toFixed(3)}`] : []),
      `written to ${file}`,
      '',
    ].join('\n'),
  );
}

await main();
