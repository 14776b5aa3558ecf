/**
 * `shardline bench load`: N connections opened at `connectRate` per second,
 * then echo load in the open model (`rate` messages/s over all connections,
 * latency from the intended send time) or the closed model (`inflight` per
 * connection), after an optional warm-up; see echo-load.ts.
 */
import os from 'node:os';
import { Groups, type OpenSummary } from './groups.js';
import { merge, summarize, type LatencySummary } from './latency.js';
import { makePlan, type Plan } from './plan.js';
import type { Progress } from './progress.js';
import { mergeCounts, type FromGroup, type TickReport } from './protocol.js';
import { saturationWarning, summarizeClient, type ClientSummary } from './self-meter.js';

export interface LoadOptions {
  url: string;
  connections: number;
  /** Connection attempts per second, over all groups. */
  connectRate: number;
  /** Messages per second over all connections (open model); 0: closed model. */
  rate: number;
  durationMs: number;
  warmupMs: number;
  /** Total messages to send in the measured window (0 = until durationMs). */
  messages: number;
  size: number;
  inflight: number;
  threads: number;
  processes: number;
  localAddresses: string[];
}

/** One line of --progress-json: one second of the measured window over every group. */
export interface ProgressLine {
  type: 'progress';
  second: number;
  sent: number;
  received: number;
  late: number;
  open: number;
  p50: number;
  p99: number;
  max: number;
  loopUtilizationMax: number;
}

export interface LoadResult {
  mode: 'open' | 'closed';
  url: string;
  /** True when the run was interrupted (SIGINT/SIGTERM): the figures cover what ran. */
  partial: boolean;
  plan: Plan;
  options: { rate: number; inflight: number; size: number; durationMs: number; warmupMs: number; connectRate: number };
  connections: Omit<OpenSummary, 'errors'>;
  messages: {
    sent: number;
    received: number;
    perSec: number;
    durationMs: number;
    /** Open model: sends more than LATE_MS behind schedule, and the largest lag (ms). */
    late: number;
    maxLagMs: number;
    unanswered: number;
    /** Frames that answered nothing of ours (server pushes, duplicates), counted and ignored. */
    otherFrames: number;
  };
  /** Open model: from each message's intended send time; closed model: from its actual send time. */
  latency: LatencySummary;
  client: ClientSummary;
  warnings: string[];
  closeCodes: Record<string, number>;
  errors: Record<string, number>;
}

export interface LoadHooks {
  onLoadStart?: () => void;
  onLoadEnd?: () => void;
  progress?: Progress;
  onPlan?: (plan: Plan) => void;
  onTick?: (line: ProgressLine) => void;
  /** Aborted: stop opening and sending, close with 1000, report what ran (partial). */
  signal?: AbortSignal;
}

export async function runLoad(opts: LoadOptions, hooks: LoadHooks = {}): Promise<LoadResult> {
  const plan = makePlan({
    url: opts.url,
    connections: opts.connections,
    threads: opts.threads,
    processes: opts.processes,
    localAddresses: opts.localAddresses,
  });
  hooks.onPlan?.(plan);
  hooks.progress?.phase(`connecting ${opts.connections}`);
  const groups = new Groups({ url: opts.url, plan, ratePerSec: opts.connectRate, inflight: opts.inflight, size: opts.size });
  const onAbort = (): void => groups.broadcast({ type: 'stop' });
  hooks.signal?.addEventListener('abort', onAbort, { once: true });
  const offTicks = groups.on(tickMerger(groups.handles.length, hooks.onTick));
  try {
    const { errors: openErrors, ...connections } = await groups.opened();
    hooks.onLoadStart?.();
    hooks.progress?.phase(`load on ${connections.opened}`, opts.messages > 0 ? 0 : opts.warmupMs + opts.durationMs);
    const count = groups.handles.length;
    const cpu0 = process.cpuUsage();
    const wall0 = performance.now();
    const spec = (i: number) => ({
      durationMs: opts.durationMs,
      warmupMs: opts.warmupMs,
      messages: opts.messages > 0 ? Math.floor(opts.messages / count) + (i < opts.messages % count ? 1 : 0) : 0,
      ratePerSec: opts.rate / count,
      ticks: hooks.onTick !== undefined,
    });
    groups.handles.forEach((h, i) => h.send({ type: 'load', spec: spec(i) }));
    const reports = connections.opened === 0 ? [] : (await groups.collect('load-result', opts.warmupMs + opts.durationMs + 20_000)).map((m) => m.report);
    hooks.onLoadEnd?.();
    const cpu = process.cpuUsage(cpu0);
    const wallMs = performance.now() - wall0 - opts.warmupMs;

    // A group's final report counts its errors from the start, the open phase's included.
    const errors: Record<string, number> = reports.length > 0 ? {} : openErrors;
    const closeCodes: Record<string, number> = {};
    const m = { sent: 0, received: 0, late: 0, maxLagMs: 0, unanswered: 0, otherFrames: 0 };
    let t0 = Infinity;
    let t1 = 0;
    for (const r of reports) {
      mergeCounts(closeCodes, r.closeCodes);
      mergeCounts(errors, r.errors);
      m.sent += r.sent;
      m.received += r.received;
      m.late += r.late;
      m.maxLagMs = Math.max(m.maxLagMs, r.maxLagMs);
      m.unanswered += r.unanswered;
      m.otherFrames += r.otherFrames;
      t0 = Math.min(t0, r.startedAt);
      t1 = Math.max(t1, r.endedAt);
    }
    const durationMs = t1 > t0 ? t1 - t0 : 0;
    const client = summarizeClient(
      reports.map((r) => r.client),
      (cpu.user + cpu.system) / 1000,
      Math.max(1, wallMs),
      os.availableParallelism(),
    );
    const warnings: string[] = [];
    const sat = saturationWarning(client);
    if (sat !== null) warnings.push(sat);
    if (m.late > 0)
      warnings.push(`${m.late} of ${m.sent} messages left more than 10 ms behind schedule (worst ${m.maxLagMs} ms): the client could not keep the rate`);
    if (connections.failed > 0) warnings.push(`${connections.failed} of ${connections.requested} connections failed to open`);
    return {
      mode: opts.rate > 0 ? 'open' : 'closed',
      url: opts.url,
      partial: hooks.signal?.aborted === true || reports.some((r) => r.interrupted),
      plan,
      options: {
        rate: opts.rate,
        inflight: opts.inflight,
        size: opts.size,
        durationMs: opts.durationMs,
        warmupMs: opts.warmupMs,
        connectRate: opts.connectRate,
      },
      connections,
      messages: { ...m, perSec: durationMs > 0 ? Math.round((m.received * 1000) / durationMs) : 0, durationMs: Math.round(durationMs) },
      latency: summarize(merge(reports.map((r) => r.histogram))),
      client,
      warnings,
      closeCodes,
      errors,
    };
  } finally {
    offTicks();
    hooks.signal?.removeEventListener('abort', onAbort);
    hooks.progress?.done();
    await groups.stop();
  }
}

/** Merges each second's ticks once every group has sent it. */
function tickMerger(groupCount: number, onTick: ((line: ProgressLine) => void) | undefined): (msg: FromGroup) => void {
  const seconds = new Map<number, TickReport[]>();
  return (msg) => {
    if (msg.type !== 'tick' || onTick === undefined) return;
    const list = seconds.get(msg.report.second) ?? [];
    list.push(msg.report);
    seconds.set(msg.report.second, list);
    if (list.length < groupCount) return;
    seconds.delete(msg.report.second);
    const lat = summarize(merge(list.map((t) => t.histogram)));
    const sum = (k: 'sent' | 'received' | 'late' | 'open'): number => list.reduce((n, t) => n + t[k], 0);
    onTick({
      type: 'progress',
      second: msg.report.second,
      sent: sum('sent'),
      received: sum('received'),
      late: sum('late'),
      open: sum('open'),
      p50: lat.p50,
      p99: lat.p99,
      max: lat.maxMs,
      loopUtilizationMax: Math.round(Math.max(...list.map((t) => t.loopUtilization)) * 100) / 100,
    });
  };
}
