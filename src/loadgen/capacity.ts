/**
 * `shardline bench capacity`: open-model load in steps of connections (each
 * sending `ratePerConnection` messages/s, so the total rate grows with them)
 * until a step's p99 exceeds the limit, or it loses messages or connections;
 * reports the largest step that held (hashrocket websocket-bench's step mode,
 * measured from the intended send times). Each step opens fresh connections.
 */
import { runLoad, type LoadResult } from './load.js';
import type { Plan } from './plan.js';

export interface CapacityOptions {
  url: string;
  start: number;
  step: number;
  max: number;
  ratePerConnection: number;
  limitP99Ms: number;
  stepDurationMs: number;
  warmupMs: number;
  size: number;
  connectRate: number;
  threads: number;
  processes: number;
  localAddresses: string[];
}

export interface CapacityStep {
  connections: number;
  rate: number;
  opened: number;
  perSec: number;
  p50: number;
  p99: number;
  unanswered: number;
  late: number;
  clientLoopUtilizationMax: number;
  held: boolean;
}

export interface CapacityResult {
  url: string;
  partial: boolean;
  limitP99Ms: number;
  ratePerConnection: number;
  steps: CapacityStep[];
  /** Connections of the largest step that held, or null when the first did not. */
  largestHeld: number | null;
  /** Why the search stopped. */
  stoppedBecause: string;
  warnings: string[];
}

export async function runCapacity(
  opts: CapacityOptions,
  hooks: { signal?: AbortSignal; onPlan?: (plan: Plan) => void; onStep?: (s: CapacityStep) => void } = {},
): Promise<CapacityResult> {
  const steps: CapacityStep[] = [];
  const warnings = new Set<string>();
  let stoppedBecause = `reached --max ${opts.max}`;
  for (let n = opts.start; n <= opts.max; n += opts.step) {
    const rate = n * opts.ratePerConnection;
    const r: LoadResult = await runLoad(
      {
        url: opts.url,
        connections: n,
        connectRate: opts.connectRate,
        rate,
        durationMs: opts.stepDurationMs,
        warmupMs: opts.warmupMs,
        messages: 0,
        size: opts.size,
        inflight: 1,
        threads: opts.threads,
        processes: opts.processes,
        localAddresses: opts.localAddresses,
      },
      { ...(hooks.signal !== undefined ? { signal: hooks.signal } : {}), ...(hooks.onPlan !== undefined ? { onPlan: hooks.onPlan } : {}) },
    );
    if (r.partial) {
      stoppedBecause = 'interrupted';
      break;
    }
    const held = r.connections.failed === 0 && r.messages.unanswered === 0 && r.latency.count > 0 && r.latency.p99 <= opts.limitP99Ms;
    const step: CapacityStep = {
      connections: n,
      rate,
      opened: r.connections.opened,
      perSec: r.messages.perSec,
      p50: r.latency.p50,
      p99: r.latency.p99,
      unanswered: r.messages.unanswered,
      late: r.messages.late,
      clientLoopUtilizationMax: r.client.loopUtilizationMax,
      held,
    };
    for (const w of r.warnings) warnings.add(`${n} connections: ${w}`);
    steps.push(step);
    hooks.onStep?.(step);
    if (!held) {
      stoppedBecause =
        r.connections.failed > 0
          ? `${r.connections.failed} connections failed at ${n}`
          : r.messages.unanswered > 0
            ? `${r.messages.unanswered} messages unanswered at ${n}`
            : `p99 ${r.latency.p99} ms > ${opts.limitP99Ms} ms at ${n}`;
      break;
    }
  }
  const heldSteps = steps.filter((s) => s.held);
  return {
    url: opts.url,
    partial: stoppedBecause === 'interrupted',
    limitP99Ms: opts.limitP99Ms,
    ratePerConnection: opts.ratePerConnection,
    steps,
    largestHeld: heldSteps.length > 0 ? Math.max(...heldSteps.map((s) => s.connections)) : null,
    stoppedBecause,
    warnings: [...warnings],
  };
}
