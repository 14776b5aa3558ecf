/**
 * `shardline bench load|pubsub|drain|capacity|http-drain ...`: arguments in,
 * report out, and the exit status (documented in usage.ts): 0 done, 1 the run
 * failed, 2 bad arguments or an impossible plan, 99 a threshold failed,
 * 128 + signal when interrupted (the partial results are printed first).
 */
import { runCapacity } from './capacity.js';
import { runDrain, type DrainResult } from './drain.js';
import { environment } from './environment.js';
import * as f from './flags.js';
import { runHttpDrain } from './http-drain.js';
import { onInterrupt, type Interrupt } from './interrupt.js';
import { runLoad, type LoadResult, type ProgressLine } from './load.js';
import { printLoad, printPubsub, thresholdLines } from './output.js';
import { formatPlan, PlanError, type Plan } from './plan.js';
import { progress } from './progress.js';
import { writeReport } from './report.js';
import { DEFAULT_PUBLISH_TEMPLATE, DEFAULT_SUBSCRIBE_TEMPLATE, runPubsub, type PubsubResult } from './pubsub.js';
import { printDrain } from './drain-output.js';
import { TOPIC_RE } from './payload.js';
import { evaluate, type METRICS, parseThreshold, THRESHOLD_EXIT_CODE, type Threshold, type ThresholdResult } from './thresholds.js';
import { table } from './table.js';
import { BENCH_USAGE } from './usage.js';

export { BENCH_USAGE };

const out = (s: string): boolean => process.stdout.write(s);
/** Resolves once `s` is handed to the OS: main.ts exits right after, and a pipe takes only 64 KiB at once. */
const outFlushed = (s: string): Promise<void> => new Promise((resolve) => process.stdout.write(s, () => resolve()));
const planLine = (p: Plan): boolean => process.stderr.write(`${formatPlan(p)}\n`);

function thresholds(v: f.Flags, mode: keyof typeof METRICS): Threshold[] {
  try {
    return (v.threshold ?? []).map((t) => parseThreshold(t, mode));
  } catch (err) {
    throw new f.ArgsError((err as Error).message);
  }
}

/** Prints the result (JSON or tables) and returns the exit status. */
async function finish<R extends object>(
  v: f.Flags,
  result: R,
  checks: ThresholdResult[],
  text: () => string,
  interrupt: Interrupt | null,
  ok: boolean,
): Promise<number> {
  await outFlushed(v.json === true ? `${JSON.stringify({ ...result, thresholds: checks, environment: environment() })}\n` : text());
  if (interrupt?.received != null) return interrupt.exitCode();
  if (!ok) return 1;
  return checks.every((c) => c.ok) ? 0 : THRESHOLD_EXIT_CODE;
}

/** Latency metrics of a histogram with no sample are missing (null), so a latency threshold cannot pass on them. */
function latencyMetrics(l: LoadResult['latency']): Record<string, number | null> {
  if (l.count === 0) return {};
  const p = (q: number): number | null => l.percentiles.find((x) => x.percentile === q)?.ms ?? null;
  return { p50: l.p50, p75: p(75), p90: l.p90, p95: p(95), p99: l.p99, 'p99.9': l['p99.9'], 'p99.99': p(99.99), max: l.maxMs, mean: l.meanMs };
}

function loadMetrics(r: LoadResult): Record<string, number | null> {
  return {
    ...latencyMetrics(r.latency),
    rps: r.messages.perSec,
    sent: r.messages.sent,
    received: r.messages.received,
    unanswered: r.messages.unanswered,
    lost: r.messages.unanswered,
    late: r.messages.late,
    errors: Object.values(r.errors).reduce((a, b) => a + b, 0),
    'connect-failed': r.connections.failed,
    'client-cpu': r.client.cpuPercent,
  };
}

function pubsubMetrics(r: PubsubResult): Record<string, number | null> {
  return {
    ...latencyMetrics(r.latency),
    delivered: r.delivered,
    lost: r.lost,
    duplicates: r.duplicates,
    gaps: r.gaps,
    errors: Object.values(r.errors).reduce((a, b) => a + b, 0),
    'connect-failed': r.connections.failed,
  };
}

function drainMetrics(r: DrainResult): Record<string, number | null> {
  return {
    drain: r.signalToExitMs,
    'first-close': r.signalToFirstCloseFrameMs,
    'last-close': r.signalToLastCloseFrameMs,
    lost: r.repliesLost,
    'exit-code': r.exitCode,
    'still-open': r.closeCodes.open ?? 0,
    'connect-failed': r.connections.failed,
  };
}

async function withInterrupt<T>(run: (i: Interrupt) => Promise<T>): Promise<[T, Interrupt]> {
  const i = onInterrupt((sig) => process.stderr.write(`\nshardline bench: ${sig}: stopping, closing every connection with 1000 (again to exit at once)\n`));
  try {
    return [await run(i), i];
  } finally {
    i.dispose();
  }
}

async function load(v: f.Flags): Promise<number> {
  const url = f.requireUrl(v);
  const connections = f.int('connections', v.connections, NaN, 1);
  if (Number.isNaN(connections)) throw new f.ArgsError('--connections N is required');
  if (v.duration !== undefined && v.messages !== undefined) throw new f.ArgsError('give --duration or --messages, not both');
  if (v.rate !== undefined && v.inflight !== undefined) throw new f.ArgsError('give --rate (open model) or --inflight (closed model), not both');
  const checks = thresholds(v, 'load');
  const messages = f.int('messages', v.messages, 0, 1);
  const opts = {
    url,
    connections,
    connectRate: f.connectRate(v),
    rate: f.num('rate', v.rate, 0, 0.001),
    durationMs: messages > 0 ? 600_000 : f.num('duration', v.duration, 10, 0.1) * 1000,
    warmupMs: f.num('warmup', v.warmup, 0, 0) * 1000,
    messages,
    size: f.int('size', v.size, 32, 20),
    inflight: f.int('inflight', v.inflight, 1, 1),
    localAddresses: f.localAddresses(v),
    ...f.threadsAndProcesses(v),
  };
  const quiet = v.json === true || v['progress-json'] === true || process.stderr.isTTY !== true;
  const ticks: ProgressLine[] = [];
  const bar = progress(!quiet);
  const onTick = (line: ProgressLine): void => {
    ticks.push(line);
    if (v['progress-json'] === true) out(`${JSON.stringify(line)}\n`);
    bar.detail(`${line.received} msg/s  p99 ${line.p99} ms  ${line.open} open  ${line.late} late  client loop ${Math.round(line.loopUtilizationMax * 100)}%`);
  };
  const [result, interrupt] = await withInterrupt((i) =>
    runLoad(opts, {
      signal: i.signal,
      onPlan: planLine,
      progress: bar,
      ...(v['progress-json'] === true || v.report !== undefined || !quiet ? { onTick } : {}),
    }),
  );
  const results = result.partial ? [] : evaluate(checks, loadMetrics(result));
  if (v.report !== undefined) writeReport(v.report, result, ticks, printLoad(result, results));
  return finish(v, result, results, () => printLoad(result, results), interrupt, result.connections.opened > 0);
}

async function pubsub(v: f.Flags): Promise<number> {
  const url = f.requireUrl(v);
  const subscribers = f.int('subscribers', v.subscribers, NaN, 1);
  const publishers = f.int('publishers', v.publishers, NaN, 1);
  const rate = f.num('rate', v.rate, NaN, 0.001);
  if (Number.isNaN(subscribers) || Number.isNaN(publishers) || Number.isNaN(rate))
    throw new f.ArgsError('--subscribers S, --publishers P and --rate R are required');
  const checks = thresholds(v, 'pubsub');
  const t = f.int('topics', v.topics, 1, 1);
  const topics = t === 1 ? ['bench'] : Array.from({ length: t }, (_, i) => `bench-${i}`);
  const sub = v['subscribe-template'] ?? DEFAULT_SUBSCRIBE_TEMPLATE;
  const pub = v['publish-template'] ?? DEFAULT_PUBLISH_TEMPLATE;
  if (!pub.includes('{data}')) throw new f.ArgsError('--publish-template must contain {data}');
  if (!topics.every((x) => TOPIC_RE.test(x))) throw new f.ArgsError('topic names must match [A-Za-z0-9_.:-]');
  const opts = {
    url,
    subscribers,
    publishers,
    rate,
    topics,
    durationMs: f.num('duration', v.duration, 10, 0.1) * 1000,
    tailMs: f.num('tail', v.tail, 2, 0) * 1000,
    connectRate: f.connectRate(v),
    localAddresses: f.localAddresses(v),
    subscribeTemplate: sub,
    publishTemplate: pub,
    ...f.threadsAndProcesses(v),
  };
  const [result, interrupt] = await withInterrupt((i) => runPubsub(opts, { signal: i.signal, onPlan: planLine }));
  const results = result.partial ? [] : evaluate(checks, pubsubMetrics(result));
  return finish(v, result, results, () => printPubsub(result, results), interrupt, result.connections.opened > 0);
}

async function drain(v: f.Flags): Promise<number> {
  const server = f.requireServer(v);
  const connections = f.int('connections', v.connections, NaN, 1);
  if (Number.isNaN(connections)) throw new f.ArgsError('--connections N is required');
  if (v.rate !== undefined) throw new f.ArgsError('bench drain has no message rate: the connection rate is --connect-rate');
  const checks = thresholds(v, 'drain');
  const readyRegex = f.readyRegex(v);
  const port = v.port === undefined ? undefined : f.int('port', v.port, 0, 1);
  const result = await runDrain({
    server,
    connections,
    inflight: f.int('inflight', v.inflight, 0, 0),
    handlerMs: f.num('handler-ms', v['handler-ms'], 0, 0),
    rate: f.connectRate(v),
    ...f.threadsAndProcesses(v),
    host: v.host ?? '127.0.0.1',
    path: v.path ?? '/',
    exitTimeoutMs: f.num('exit-timeout', v['exit-timeout'], 30, 1) * 1000,
    localAddresses: f.localAddresses(v),
    onPlan: planLine,
    signal: f.drainSignal(v),
    readyRegex,
    port,
  });
  const results = evaluate(checks, drainMetrics(result));
  return finish(v, result, results, () => printDrain(result) + (results.length > 0 ? `${thresholdLines(results)}\n` : ''), null, result.connections.opened > 0);
}

async function capacity(v: f.Flags): Promise<number> {
  const url = f.requireUrl(v);
  const ratePerConnection = f.num('rate-per-connection', v['rate-per-connection'], NaN, 0.001);
  const limitP99Ms = f.num('limit-p99', v['limit-p99'], NaN, 0.001);
  if (Number.isNaN(ratePerConnection) || Number.isNaN(limitP99Ms)) throw new f.ArgsError('--rate-per-connection R and --limit-p99 MS are required');
  const checks = thresholds(v, 'capacity');
  const start = f.int('start', v.start, 100, 1);
  const opts = {
    url,
    ratePerConnection,
    limitP99Ms,
    start,
    step: f.int('step', v.step, 100, 1),
    max: f.int('max', v.max, 10_000, start),
    stepDurationMs: f.num('step-duration', v['step-duration'], 5, 0.1) * 1000,
    warmupMs: f.num('warmup', v.warmup, 1, 0) * 1000,
    size: f.int('size', v.size, 32, 20),
    connectRate: f.connectRate(v),
    localAddresses: f.localAddresses(v),
    ...f.threadsAndProcesses(v),
  };
  const [result, interrupt] = await withInterrupt((i) =>
    runCapacity(opts, {
      signal: i.signal,
      onStep: (s) => void process.stderr.write(`step ${s.connections}: p99 ${s.p99} ms, ${s.perSec} msg/s, ${s.held ? 'held' : 'did not hold'}\n`),
    }),
  );
  const results = result.partial ? [] : evaluate(checks, { connections: result.largestHeld });
  const text = (): string =>
    `${[
      ...(result.partial ? ['PARTIAL RESULTS: the run was interrupted'] : []),
      `capacity       ${result.largestHeld ?? 'none'} connections held p99 <= ${result.limitP99Ms} ms at ${result.ratePerConnection} msg/s each; stopped: ${result.stoppedBecause}`,
      table(
        ['connections', 'msg/s', 'p50 ms', 'p99 ms', 'unanswered', 'late', 'client loop', 'held'],
        result.steps.map((s) => [
          s.connections,
          s.perSec,
          s.p50,
          s.p99,
          s.unanswered,
          s.late,
          `${Math.round(s.clientLoopUtilizationMax * 100)}%`,
          s.held ? 'yes' : 'NO',
        ]),
      ),
      ...result.warnings.map((w) => `WARNING: ${w}`),
      thresholdLines(results),
    ]
      .filter((l) => l !== '')
      .join('\n')}\n`;
  return finish(v, result, results, text, interrupt, result.steps.length > 0);
}

export async function runBench(argv: string[]): Promise<number> {
  try {
    const { values: v, positionals } = f.parseFlags(argv);
    const [sub, ...rest] = positionals;
    if (v.help === true || sub === undefined) {
      await outFlushed(`${BENCH_USAGE}\n`);
      return v.help === true ? 0 : 2;
    }
    if (rest.length > 0) throw new f.ArgsError(`unexpected argument '${rest[0]}'`);
    switch (sub) {
      case 'load':
        return await load(v);
      case 'pubsub':
        return await pubsub(v);
      case 'drain':
        return await drain(v);
      case 'capacity':
        return await capacity(v);
      case 'http-drain': {
        const connections = f.int('connections', v.connections, NaN, 1);
        if (Number.isNaN(connections)) throw new f.ArgsError('--connections N is required');
        const result = await runHttpDrain({
          server: f.requireServer(v),
          path: v.path ?? '/slow',
          host: v.host ?? '127.0.0.1',
          connections,
          handlerMs: f.num('handler-ms', v['handler-ms'], 100, 0),
          signalAfterMs: 1_000,
          exitTimeoutMs: f.num('exit-timeout', v['exit-timeout'], 10, 1) * 1000,
        });
        await outFlushed(`${JSON.stringify(result, null, v.json === true ? undefined : 2)}\n`);
        return 0;
      }
      default:
        throw new f.ArgsError(`unknown bench command '${sub}' (load, pubsub, drain, capacity or http-drain)`);
    }
  } catch (err) {
    if (err instanceof f.ArgsError || err instanceof PlanError) {
      process.stderr.write(`shardline bench: ${err.message}\n`);
      return 2;
    }
    process.stderr.write(`shardline bench: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}
