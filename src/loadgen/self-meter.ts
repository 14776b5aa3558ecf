/**
 * A group measuring itself: when the generator, not the server, is the
 * bottleneck, its figures are the client's (k6 asks to stay under 80 % CPU).
 * Event-loop utilization says how busy this thread was; the event-loop delay
 * (perf_hooks.monitorEventLoopDelay, jHiccup's idea) how late its timers ran,
 * which is added to every latency it measures.
 */
import { monitorEventLoopDelay, type EventLoopUtilization, type IntervalHistogram } from 'node:perf_hooks';
import { isMainThread } from 'node:worker_threads';
import type { ClientStats } from './protocol.js';

/** Sampling period of the event-loop delay monitor; its samples include it, so it is subtracted. */
const RESOLUTION_MS = 10;

export class SelfMeter {
  private readonly elu: EventLoopUtilization;
  private readonly delay: IntervalHistogram;
  private readonly cpu: NodeJS.CpuUsage;

  constructor() {
    this.elu = performance.eventLoopUtilization();
    this.delay = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
    this.delay.enable();
    this.cpu = process.cpuUsage();
  }

  /** Utilization so far, without stopping. */
  utilization(): number {
    return performance.eventLoopUtilization(this.elu).utilization;
  }

  stop(): ClientStats {
    this.delay.disable();
    const cpu = process.cpuUsage(this.cpu);
    const ms = (ns: number): number => Math.max(0, Math.round(ns / 1e4) / 100 - RESOLUTION_MS);
    return {
      // In a worker thread process.cpuUsage() is the whole process's: the coordinator counts it once.
      processCpuMs: isMainThread ? Math.round((cpu.user + cpu.system) / 1000) : 0,
      loopUtilization: Math.round(this.utilization() * 1000) / 1000,
      loopDelayP99Ms: this.delay.count > 0 ? ms(this.delay.percentile(99)) : 0,
      loopDelayMaxMs: this.delay.count > 0 ? ms(this.delay.max) : 0,
    };
  }
}

/** Above this, the client rather than the server may be what the figures measure. */
export const SATURATION = 0.8;

export interface ClientSummary {
  /** CPU time of every client process and thread over the phase, as a % of one core (200 = two cores busy). */
  cpuPercent: number;
  /** Cores this machine offers (the server under test may share them). */
  cores: number;
  /** Event-loop utilization of the busiest client group (0..1). */
  loopUtilizationMax: number;
  /** Event-loop delay of the client groups, worst p99 and max, ms: added to every latency measured. */
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
  /** True when the busiest group was above SATURATION or the client processes used more than SATURATION of the cores. */
  saturated: boolean;
}

/** Sums what the groups measured; `coordinatorCpuMs` is this process's CPU (its worker threads included) over `wallMs`. */
export function summarizeClient(stats: ClientStats[], coordinatorCpuMs: number, wallMs: number, cores: number): ClientSummary {
  const cpu = coordinatorCpuMs + stats.reduce((n, s) => n + s.processCpuMs, 0);
  const cpuPercent = wallMs > 0 ? Math.round((cpu / wallMs) * 100) : 0;
  const loopUtilizationMax = Math.max(0, ...stats.map((s) => s.loopUtilization));
  return {
    cpuPercent,
    cores,
    loopUtilizationMax,
    loopDelayP99Ms: Math.max(0, ...stats.map((s) => s.loopDelayP99Ms)),
    loopDelayMaxMs: Math.max(0, ...stats.map((s) => s.loopDelayMaxMs)),
    saturated: loopUtilizationMax > SATURATION || cpuPercent > SATURATION * 100 * cores,
  };
}

export function saturationWarning(c: ClientSummary): string | null {
  if (!c.saturated) return null;
  return (
    `the client may be the bottleneck: busiest client thread ${Math.round(c.loopUtilizationMax * 100)}% busy, ` +
    `client CPU ${c.cpuPercent}% of one core (${c.cores} cores); above ${SATURATION * 100}% the figures are partly the client's: ` +
    `use more --threads or --processes, or another machine`
  );
}
