/**
 * Tables of the fleet bench (markdown), from the runs of one invocation:
 * every cell is the median over the repetitions, and every ratio compares
 * systems measured in the same invocation (a 2-core machine shared with other
 * work moves absolute figures from run to run far more than the ratios).
 *
 *   node dist/bench/fleet/report.js bench/results/fleet-<date>.json   re-renders a saved run
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { PhaseResult } from './client.js';
import type { SystemName } from './systems.js';

export interface Run {
  rep: number;
  fanout: number;
  system: SystemName;
  paced: PhaseResult;
  window: PhaseResult;
}

export interface FleetResult {
  startedAt: string;
  seconds: number;
  node: string;
  cpu: string;
  loadAverage: number[];
  /** The shardline build measured. */
  shardline: string;
  options: {
    reps: number;
    phaseMs: number;
    pacedDeliveriesPerSec: number;
    pacedPublicationsPerSec: Record<string, number>;
    threads: number;
    windows: Record<string, number>;
    quick: boolean;
  };
  unavailable: Record<string, string>;
  stopped: { system: string; node: string; line: Record<string, unknown> | null }[];
  runs: Run[];
}

function median(xs: number[]): number {
  const v = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const m = Math.floor(v.length / 2);
  return v.length % 2 === 1 ? (v[m] as number) : ((v[m - 1] as number) + (v[m] as number)) / 2;
}

const f = (n: number, digits = 0): string =>
  Number.isFinite(n) ? n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : '-';
const ms = (n: number): string => f(n, n < 10 ? 2 : 1);
const pct = (n: number): string => (Number.isFinite(n) ? `${Math.round(n * 100)}%` : '-');
const x = (a: number, b: number): string => (Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? `${(a / b).toFixed(2)}x` : '-');

type Cell = (phase: PhaseResult) => number;

export function renderTables(result: FleetResult): string {
  const fanouts = [...new Set(result.runs.map((r) => r.fanout))];
  const systems = [...new Set(result.runs.map((r) => r.system))];
  const med = (fanout: number, system: SystemName, phase: 'paced' | 'window', cell: Cell): number =>
    median(result.runs.filter((r) => r.fanout === fanout && r.system === system).map((r) => cell(r[phase])));
  const sum = (fanout: number, system: SystemName, phase: 'paced' | 'window', cell: Cell): number =>
    result.runs.filter((r) => r.fanout === fanout && r.system === system).reduce((n, r) => n + cell(r[phase]), 0);
  const both = (fanout: number, system: SystemName, phase: 'paced' | 'window', cell: Cell, fmt: (n: number) => string): string =>
    fmt(med(fanout, system, phase, cell));
  const nodes = (fanout: number, system: SystemName, cell: (p: PhaseResult, node: number) => number, fmt: (n: number) => string): string =>
    [0, 1]
      .map((i) => med(fanout, system, 'window', (p) => cell(p, i)))
      .filter(Number.isFinite)
      .map(fmt)
      .join(' / ');
  const o = result.options;
  const out: string[] = [];
  out.push(
    `Run of ${result.startedAt} (${result.seconds} s): Node ${result.node}, ${result.cpu}, load average ${result.loadAverage.map((l) => l.toFixed(1)).join(' ')} at the end. ` +
      `Medians of ${o.reps} repetition(s); each phase ${f(o.phaseMs / 1000, 1)} s; ${o.threads} subscriber threads.`,
  );
  for (const [name, why] of Object.entries(result.unavailable)) out.push(`\n**${name} not measured**: ${why}`);
  const brokers = result.stopped.filter((s) => s.line?.broker !== undefined);
  if (brokers.length > 0)
    out.push(`\nBroker counters at the nodes' stop: ${brokers.map((s) => `${s.node} (${s.system}) ${JSON.stringify(s.line?.broker)}`).join('; ')}.`);

  out.push(
    `\n#### Latency at an equal offered load (paced: ${f(o.pacedDeliveriesPerSec)} deliveries/s, at least 2 publications/s, the same for every system)\n`,
  );
  out.push('| fan-out | system | publications/s offered | p50 (ms) | p99 (ms) | max (ms) | delivered/s | not delivered within 10 s, out of order (all runs) |');
  out.push('|---:|---|---:|---:|---:|---:|---:|---:|');
  for (const fo of fanouts) {
    for (const s of systems) {
      out.push(
        `| 1:${f(fo)} | ${s} | ${f(o.pacedPublicationsPerSec[String(fo)] ?? NaN)} | ${both(fo, s, 'paced', (p) => p.p50Ms, ms)} | ${both(fo, s, 'paced', (p) => p.p99Ms, ms)} | ` +
          `${both(fo, s, 'paced', (p) => p.maxMs, ms)} | ${both(fo, s, 'paced', (p) => p.deliveriesPerSec, f)} | ${f(sum(fo, s, 'paced', (p) => p.lost))}, ${f(sum(fo, s, 'paced', (p) => p.outOfOrder))} |`,
      );
    }
  }

  out.push('\n#### Throughput (window: at most W publications not yet received by every subscriber)\n');
  out.push(
    '| fan-out | W | system | deliveries/s | p50 (ms) | p99 (ms) | server CPU per 1k deliveries (ms) | main-thread CPU, node A / B | main-thread loop delay p99 (ms), A / B | redis-server CPU | busiest client thread: CPU, loop busy | client CPU (cores) | not delivered within 10 s, out of order, closed (all runs) |',
  );
  out.push('|---:|---:|---|---:|---:|---:|---:|---|---|---:|---:|---:|---|');
  for (const fo of fanouts) {
    for (const s of systems) {
      const cell = (c: Cell, fmt: (n: number) => string): string => both(fo, s, 'window', c, fmt);
      out.push(
        `| 1:${f(fo)} | ${o.windows[String(fo)] ?? '-'} | ${s} | ${cell((p) => p.deliveriesPerSec, f)} | ${cell((p) => p.p50Ms, ms)} | ${cell((p) => p.p99Ms, ms)} | ` +
          `${cell(
            (p) => p.serverCpuPerKDeliveriesMs,
            (n) => f(n, 1),
          )} | ${nodes(fo, s, (p, i) => p.nodeMainThreadCores[i] ?? NaN, pct)} | ` +
          `${nodes(
            fo,
            s,
            (p, i) => p.nodeLoops[i]?.p99Ms ?? NaN,
            (n) => f(n, 1),
          )} | ${s === 'shardline-1node' ? '-' : cell((p) => p.redisCores, pct)} | ` +
          `${cell((p) => p.clientThreadCpuMax, pct)}, ${cell((p) => p.clientLoopMax, pct)} | ${cell(
            (p) => p.clientCores,
            (n) => f(n, 2),
          )} | ${f(sum(fo, s, 'window', (p) => p.lost))}, ${f(sum(fo, s, 'window', (p) => p.outOfOrder))}, ${f(sum(fo, s, 'window', (p) => p.closedEarly))} |`,
      );
    }
  }

  const sl = 'shardline-2nodes' as const;
  if (systems.includes(sl)) {
    out.push('\n#### Ratios (medians of this run)\n');
    out.push(
      '| fan-out | throughput: 2 nodes (Redis) / Socket.IO (goal ≥ 2x) | p99 paced: 2 nodes / Socket.IO (goal ≤ 0.5x) | p99 window: 2 nodes / Socket.IO | throughput: 2 nodes / 1 node (memory) | p99 paced: 2 nodes / 1 node |',
    );
    out.push('|---:|---:|---:|---:|---:|---:|');
    for (const fo of fanouts) {
      const m = (s: SystemName, phase: 'paced' | 'window', c: Cell): number => med(fo, s, phase, c);
      const tput: Cell = (p) => p.deliveriesPerSec;
      const p99: Cell = (p) => p.p99Ms;
      out.push(
        `| 1:${f(fo)} | ${x(m(sl, 'window', tput), m('socketio-2nodes', 'window', tput))} | ${x(m(sl, 'paced', p99), m('socketio-2nodes', 'paced', p99))} | ` +
          `${x(m(sl, 'window', p99), m('socketio-2nodes', 'window', p99))} | ${x(m(sl, 'window', tput), m('shardline-1node', 'window', tput))} | ${x(m(sl, 'paced', p99), m('shardline-1node', 'paced', p99))} |`,
      );
    }
  }
  return out.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.stdout.write(`${renderTables(JSON.parse(readFileSync(process.argv[2] ?? '', 'utf8')) as FleetResult)}\n`);
}
