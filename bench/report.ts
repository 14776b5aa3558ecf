/** Medians, ratios, the markdown tables and the charts of a matrix run. */
import type { DrainResult } from '../src/loadgen/drain.js';
import type { HttpDrainResult } from '../src/loadgen/http-drain.js';
import type { LoadResult } from '../src/loadgen/load.js';
import { mergeCounts } from '../src/loadgen/protocol.js';
import { chart } from './chart.js';
import { fmt, fmtRatio, median, ratio } from './stats.js';
import { SERVERS, THREADS, type ServerName } from './servers.js';

export interface DrainRun {
  server: ServerName;
  connections: number;
  scenario: 'idle' | 'inflight';
  rep: number;
  result?: DrainResult;
  error?: string;
}

export interface LoadRun {
  server: ServerName;
  size: number;
  rep: number;
  result?: LoadResult;
  serverCpuMs?: number;
  cpuUsPerMessage?: number;
  error?: string;
}

export interface DrainSummary {
  server: ServerName;
  connections: number;
  scenario: 'idle' | 'inflight';
  runs: number;
  failedRuns: number;
  /** Medians, ms from the SIGTERM. */
  firstCloseMs: number;
  lastClosedMs: number;
  exitMs: number;
  repliesLostMedian: number;
  repliesLostMax: number;
  requestsSentMedian: number;
  closeCodes: Record<string, number>;
  newConnectionRefusedAll: boolean;
  exitCodes: (number | null)[];
  rssPerConnectionBytes: number;
  rssEmptyBytes: number;
  /** Medians: connects per second while opening, server CPU from signal to exit, busiest client loop. */
  connectsPerSec: number;
  serverCpuDuringDrainMs: number;
  clientLoopUtilization: number;
}

export interface LoadSummary {
  server: ServerName;
  size: number;
  runs: number;
  failedRuns: number;
  msgsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  cpuUsPerMessage: number;
}

export interface Matrix {
  date: string;
  durationSec: number;
  node: string;
  platform: string;
  cpu: { model: string; count: number };
  totalMemoryBytes: number;
  options: Record<string, unknown>;
  drains: DrainRun[];
  loads: LoadRun[];
  http: HttpDrainResult | { error: string };
  summary: { drains: DrainSummary[]; loads: LoadSummary[] };
}

export function summarize(drains: DrainRun[], loads: LoadRun[]): Matrix['summary'] {
  const dKeys = [...new Set(drains.map((d) => `${d.scenario}|${d.connections}|${d.server}`))];
  const dSum = dKeys.map((key): DrainSummary => {
    const runs = drains.filter((d) => `${d.scenario}|${d.connections}|${d.server}` === key);
    const ok = runs.map((r) => r.result).filter((r): r is DrainResult => r !== undefined);
    const first = runs[0] as DrainRun;
    return {
      server: first.server,
      connections: first.connections,
      scenario: first.scenario,
      runs: runs.length,
      failedRuns: runs.length - ok.length,
      firstCloseMs: median(ok.map((r) => r.signalToFirstCloseFrameMs)),
      lastClosedMs: median(ok.map((r) => r.signalToLastClientClosedMs)),
      exitMs: median(ok.map((r) => r.signalToExitMs)),
      repliesLostMedian: median(ok.map((r) => r.repliesLost)),
      repliesLostMax: Math.max(0, ...ok.map((r) => r.repliesLost)),
      requestsSentMedian: median(ok.map((r) => r.requestsSent)),
      closeCodes: ok.reduce((acc, r) => mergeCounts(acc, r.closeCodes), {} as Record<string, number>),
      newConnectionRefusedAll: ok.length > 0 && ok.every((r) => r.newConnectionRefused),
      exitCodes: ok.map((r) => r.exitCode),
      rssPerConnectionBytes: median(ok.map((r) => r.serverRss.perConnectionBytes)),
      rssEmptyBytes: median(ok.map((r) => r.serverRss.emptyBytes)),
      connectsPerSec: median(ok.map((r) => (r.connections.openMs > 0 ? (r.connections.opened * 1000) / r.connections.openMs : NaN))),
      serverCpuDuringDrainMs: median(ok.map((r) => r.serverCpuDuringDrainMs)),
      clientLoopUtilization: median(ok.map((r) => r.clientLoopUtilizationMax)),
    };
  });
  // Results written before the second generation of `shardline bench` kept them in `latencyMs`.
  const p = (r: LoadResult, k: 'p50' | 'p99'): number =>
    (r.latency as LoadResult['latency'] | undefined)?.[k] ?? (r as unknown as { latencyMs: Record<string, number> }).latencyMs[k] ?? NaN;
  const lKeys = [...new Set(loads.map((l) => `${l.size}|${l.server}`))];
  const lSum = lKeys.map((key): LoadSummary => {
    const runs = loads.filter((l) => `${l.size}|${l.server}` === key);
    const ok = runs.filter((r): r is LoadRun & { result: LoadResult } => r.result !== undefined);
    const first = runs[0] as LoadRun;
    return {
      server: first.server,
      size: first.size,
      runs: runs.length,
      failedRuns: runs.length - ok.length,
      msgsPerSec: median(ok.map((r) => r.result.messages.perSec)),
      p50Ms: median(ok.map((r) => p(r.result, 'p50'))),
      p99Ms: median(ok.map((r) => p(r.result, 'p99'))),
      cpuUsPerMessage: median(ok.map((r) => r.cpuUsPerMessage)),
    };
  });
  const order = (s: ServerName): number => SERVERS.indexOf(s);
  dSum.sort((a, b) => a.scenario.localeCompare(b.scenario) || a.connections - b.connections || order(a.server) - order(b.server));
  lSum.sort((a, b) => a.size - b.size || order(a.server) - order(b.server));
  return { drains: dSum, loads: lSum };
}

const codes = (c: Record<string, number>): string =>
  Object.entries(c)
    .map(([k, v]) => `${k}: ${v}`)
    .join(', ');

function drainTable(m: Matrix, scenario: 'idle' | 'inflight'): string[] {
  const rows = m.summary.drains.filter((d) => d.scenario === scenario);
  const out = [
    scenario === 'idle'
      ? '| connections | server | signal → last client closed (ms) | × uws-raw | × ws | → first close frame (ms) | → exit (ms) | server CPU in drain (ms) | CPU × ws | busiest client loop | close codes (all runs) | new conn. refused | exit codes | RSS per conn. (B) | connects/s |'
      : '| connections | server | signal → last client closed (ms) | × uws-raw | × ws | → exit (ms) | server CPU in drain (ms) | replies lost (median / max of runs; sent) | close codes (all runs) | exit codes |',
    scenario === 'idle' ? '|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|---:|---:|' : '|---:|---|---:|---:|---:|---:|---:|---|---|---|',
  ];
  for (const d of rows) {
    const base = (s: ServerName): DrainSummary | undefined => rows.find((r) => r.connections === d.connections && r.server === s);
    const head = `| ${fmt(d.connections)} | ${d.server}${d.failedRuns > 0 ? ` (${d.failedRuns} failed)` : ''} | ${fmt(d.lastClosedMs)} | ${fmtRatio(ratio(d.lastClosedMs, base('uws-raw')?.lastClosedMs ?? NaN))} | ${fmtRatio(ratio(d.lastClosedMs, base('ws')?.lastClosedMs ?? NaN))}`;
    out.push(
      scenario === 'idle'
        ? `${head} | ${fmt(d.firstCloseMs, 1)} | ${fmt(d.exitMs)} | ${fmt(d.serverCpuDuringDrainMs)} | ${fmtRatio(ratio(d.serverCpuDuringDrainMs, base('ws')?.serverCpuDuringDrainMs ?? NaN))} | ${Number.isFinite(d.clientLoopUtilization) ? `${fmt(d.clientLoopUtilization * 100)}%` : '-'} | ${codes(d.closeCodes)} | ${d.newConnectionRefusedAll ? 'yes' : 'no'} | ${d.exitCodes.join(', ')} | ${fmt(d.rssPerConnectionBytes)} | ${fmt(d.connectsPerSec)} |`
        : `${head} | ${fmt(d.exitMs)} | ${fmt(d.serverCpuDuringDrainMs)} | ${fmt(d.repliesLostMedian)} / ${fmt(d.repliesLostMax)} (of ${fmt(d.requestsSentMedian)}) | ${codes(d.closeCodes)} | ${d.exitCodes.join(', ')} |`,
    );
  }
  return out;
}

function loadTable(m: Matrix): string[] {
  const out = [
    '| size | server (threads) | msgs/s | × uws-raw | × ws | p50 (ms) | p99 (ms) | server CPU per msg (µs) | CPU × uws-raw |',
    '|---:|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const l of m.summary.loads) {
    const base = (s: ServerName): LoadSummary | undefined => m.summary.loads.find((r) => r.size === l.size && r.server === s);
    out.push(
      `| ${l.size} B | ${l.server} (${THREADS[l.server]})${l.failedRuns > 0 ? ` (${l.failedRuns} failed)` : ''} | ${fmt(l.msgsPerSec)} | ${fmtRatio(ratio(l.msgsPerSec, base('uws-raw')?.msgsPerSec ?? NaN))} | ${fmtRatio(ratio(l.msgsPerSec, base('ws')?.msgsPerSec ?? NaN))} | ${fmt(l.p50Ms, 2)} | ${fmt(l.p99Ms, 2)} | ${fmt(l.cpuUsPerMessage, 2)} | ${fmtRatio(ratio(l.cpuUsPerMessage, base('uws-raw')?.cpuUsPerMessage ?? NaN))} |`,
    );
  }
  return out;
}

function targets(m: Matrix): string[] {
  const s = m.summary;
  const maxN = Math.max(...s.drains.map((d) => d.connections));
  const drain = (server: ServerName, scenario: 'idle' | 'inflight'): DrainSummary | undefined =>
    s.drains.find((d) => d.server === server && d.connections === maxN && d.scenario === scenario);
  const load = (server: ServerName, size: number): LoadSummary | undefined => s.loads.find((l) => l.server === server && l.size === size);
  const mark = (ok: boolean): string => (ok ? 'met' : '**missed**');
  const out = ['| target | server | measured | result |', '|---|---|---|---|'];
  const wsIdle = drain('ws', 'idle')?.lastClosedMs ?? NaN;
  for (const srv of ['shardline-1', 'shardline-2'] as const) {
    const r = ratio(drain(srv, 'idle')?.lastClosedMs ?? NaN, wsIdle);
    out.push(`| drain of ${fmt(maxN)} idle ≤ 0.4x ws | ${srv} | ${fmtRatio(r)} | ${mark(r <= 0.4)} |`);
  }
  for (const srv of ['shardline-1', 'shardline-2'] as const) {
    const d = drain(srv, 'inflight');
    out.push(
      `| 0 replies lost, ${fmt(maxN)} in flight | ${srv} | max ${fmt(d?.repliesLostMax ?? NaN)} | ${mark(d !== undefined && d.failedRuns === 0 && d.repliesLostMax === 0)} |`,
    );
  }
  for (const srv of ['shardline-1', 'shardline-2'] as const) {
    // Not a stated target, but the same promise at every N of the matrix.
    const all = s.drains.filter((d) => d.server === srv && d.scenario === 'inflight');
    const worst = all.reduce((w, d) => (d.repliesLostMax > w.repliesLostMax ? d : w), all[0] ?? ({ repliesLostMax: NaN, connections: 0 } as DrainSummary));
    const runs = all.reduce((n, d) => n + d.runs, 0);
    out.push(
      `| 0 replies lost at every N (${all.map((d) => fmt(d.connections)).join(' / ')}) | ${srv} | worst run ${fmt(worst.repliesLostMax)} lost at ${fmt(worst.connections)} (${runs} runs) | ${mark(all.length > 0 && all.every((d) => d.failedRuns === 0 && d.repliesLostMax === 0))} |`,
    );
  }
  for (const size of [...new Set(s.loads.map((l) => l.size))]) {
    const r = ratio(load('shardline-1', size)?.msgsPerSec ?? NaN, load('uws-raw', size)?.msgsPerSec ?? NaN);
    out.push(`| echo ≥ 0.9x uws-raw, 1 thread each, ${size} B | shardline-1 | ${fmtRatio(r)} msgs/s | ${mark(r >= 0.9)} |`);
    // The steadier reading on a shared machine: server CPU per message (≤ 1/0.9 of uws-raw's).
    const c = ratio(load('shardline-1', size)?.cpuUsPerMessage ?? NaN, load('uws-raw', size)?.cpuUsPerMessage ?? NaN);
    out.push(`| same, by server CPU per message (≤ 1.11x) | shardline-1 | ${fmtRatio(c)} CPU/msg | ${mark(c <= 1 / 0.9)} |`);
  }
  for (const srv of ['shardline-1', 'shardline-2'] as const) {
    const b = drain(srv, 'idle')?.rssPerConnectionBytes ?? NaN;
    out.push(`| ≤ 1.5 KB RSS per idle connection | ${srv} | ${fmt(b)} B | ${mark(b <= 1536)} |`);
  }
  return out;
}

export function renderMarkdown(m: Matrix, links: { drainSvg: string; throughputSvg: string; source?: string }): string {
  const http = m.http;
  const httpLines =
    'error' in http
      ? [`HTTP drain check failed: ${http.error}`]
      : [
          `Against the ws/node:http baseline's GET /slow (${http.handlerMs} ms handler), ${http.connections} autocannon connections, SIGTERM after 1 s: ` +
            `${http.failedInFlight} in-flight requests failed, ${http.responsesAfterSignal} answered after the signal, ${http.refusedAfterSignal} new requests refused after the listener closed, ` +
            `exit ${http.exitCode} ${http.signalToExitMs} ms after the signal. shardline serves no slow HTTP route, so it is not in this check.`,
        ];
  return [
    `Run of ${m.date} (${m.durationSec} s${m.options.quick === true ? ', quick' : ''}): Node ${m.node}, ${m.cpu.model} × ${m.cpu.count}, ${m.platform}. ` +
      `Medians of ${String(m.options.reps)} run(s) per cell${links.source !== undefined ? `; raw data: [${links.source.split('/').pop()}](${links.source})` : ''}.`,
    '',
    '### Targets',
    '',
    ...targets(m),
    '',
    '### Drain, idle connections',
    '',
    ...drainTable(m, 'idle'),
    '',
    `### Drain, one request in flight per connection (handler ${String(m.options.handlerMs)} ms)`,
    '',
    ...drainTable(m, 'inflight'),
    '',
    '### Echo throughput (64 connections × 16 in flight)',
    '',
    ...loadTable(m),
    '',
    '### HTTP drain (autocannon)',
    '',
    ...httpLines,
    '',
    `![drain time vs connections](${links.drainSvg})`,
    '',
    `![echo throughput](${links.throughputSvg})`,
    '',
  ].join('\n');
}

export function renderCharts(m: Matrix): { drain: string; throughput: string } {
  const ns = [...new Set(m.summary.drains.map((d) => d.connections))].sort((a, b) => a - b);
  const drainPanel = (scenario: 'idle' | 'inflight', title: string) => ({
    title,
    yLabel: 'signal → last client closed (ms)',
    categories: ns.map((n) => fmt(n)),
    series: SERVERS.map((server) => ({
      name: server,
      values: ns.map((n) => m.summary.drains.find((d) => d.server === server && d.connections === n && d.scenario === scenario)?.lastClosedMs ?? NaN),
    })),
  });
  const sizes = [...new Set(m.summary.loads.map((l) => l.size))];
  const loadPanel = (title: string, yLabel: string, pick: (l: LoadSummary) => number) => ({
    title,
    yLabel,
    categories: sizes.map((s) => (s >= 1024 ? `${s / 1024} KiB` : `${s} B`)),
    series: SERVERS.map((server) => ({
      name: server,
      values: sizes.map((s) => pick(m.summary.loads.find((l) => l.server === server && l.size === s) ?? ({} as LoadSummary))),
    })),
  });
  return {
    drain: chart('line', [
      drainPanel('idle', 'Drain, idle connections'),
      drainPanel('inflight', `Drain, 1 in flight (${String(m.options.handlerMs)} ms handler)`),
    ]),
    throughput: chart('bar', [
      loadPanel('Echo throughput', 'messages per second', (l) => l.msgsPerSec ?? NaN),
      loadPanel('Server CPU per message', 'µs of CPU (user + system)', (l) => l.cpuUsPerMessage ?? NaN),
    ]),
  };
}
