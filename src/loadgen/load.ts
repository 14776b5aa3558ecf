/**
 * `shardline bench load`: N connections opened at a bounded rate, K echo round
 * trips in flight on each, for a duration or a message count.
 */
import * as hdr from 'hdr-histogram-js';
import { Groups } from './groups.js';
import type { Progress } from './progress.js';
import { mergeCounts } from './protocol.js';

export interface LoadOptions {
  url: string;
  connections: number;
  /** Connection attempts per second, over all groups. */
  rate: number;
  durationMs: number;
  /** Total messages to send (0 = until durationMs). */
  messages: number;
  size: number;
  inflight: number;
  threads: number;
  processes?: number | undefined;
}

export interface LoadResult {
  url: string;
  connections: { requested: number; opened: number; failed: number; perSec: number; openMs: number };
  messages: { sent: number; received: number; perSec: number; durationMs: number };
  /** Round-trip latency in milliseconds. */
  latencyMs: { p50: number; p90: number; p99: number; max: number; mean: number };
  closeCodes: Record<string, number>;
  errors: Record<string, number>;
}

const round = (n: number, digits = 2): number => Math.round(n * 10 ** digits) / 10 ** digits;

/**
 * Runs the load. `onLoadStart`/`onLoadEnd` bracket the message phase only
 * (not the connects), for callers that sample the server's CPU time.
 */
export async function runLoad(
  opts: LoadOptions,
  hooks: { onLoadStart?: () => void; onLoadEnd?: () => void; progress?: Progress } = {},
): Promise<LoadResult> {
  hooks.progress?.phase(`connecting ${opts.connections}`);
  const groups = new Groups({ url: opts.url, connections: opts.connections, ratePerSec: opts.rate, inflight: opts.inflight, size: opts.size, threads: opts.threads, processes: opts.processes });
  try {
    const { errors, ...connections } = await groups.opened();
    const openedCount = connections.opened;

    hooks.onLoadStart?.();
    hooks.progress?.phase(`load on ${openedCount}`, opts.messages > 0 ? 0 : opts.durationMs);
    const perGroupMessages = opts.messages > 0 ? Math.ceil(opts.messages / groups.handles.length) : 0;
    const results = openedCount === 0 ? [] : await (groups.broadcast({ type: 'load', durationMs: opts.durationMs, messages: perGroupMessages }), groups.collect('load-result', opts.durationMs + 15_000));
    hooks.onLoadEnd?.();

    const total = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
    const closeCodes: Record<string, number> = {};
    let sent = 0;
    let received = 0;
    let t0 = Infinity;
    let t1 = 0;
    for (const { report } of results) {
      total.add(hdr.decodeFromCompressedBase64(report.histogram));
      mergeCounts(closeCodes, report.closeCodes);
      mergeCounts(errors, report.errors);
      sent += report.sent;
      received += report.received;
      t0 = Math.min(t0, report.startedAt);
      t1 = Math.max(t1, report.endedAt);
    }
    const durationMs = t1 > t0 ? t1 - t0 : 0;
    const us = (v: number): number => round(v / 1000, 3);
    return {
      url: opts.url,
      connections,
      messages: { sent, received, perSec: durationMs > 0 ? Math.round((received * 1000) / durationMs) : 0, durationMs: Math.round(durationMs) },
      latencyMs: {
        p50: us(total.getValueAtPercentile(50)),
        p90: us(total.getValueAtPercentile(90)),
        p99: us(total.getValueAtPercentile(99)),
        max: us(total.maxValue),
        mean: us(total.mean),
      },
      closeCodes,
      errors,
    };
  } finally {
    hooks.progress?.done();
    await groups.stop();
  }
}
