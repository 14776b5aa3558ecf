/**
 * Latency summaries from merged HDR histograms (values in µs). Percentiles are
 * always read from the merged histogram, never averaged across groups.
 */
import * as hdr from 'hdr-histogram-js';
import { MAX_LATENCY_US } from './echo-load.js';

/** The percentile spectrum printed and put in --json (wrk2's --latency list plus 95). */
export const PERCENTILES = [50, 75, 90, 95, 99, 99.9, 99.99, 99.999, 100] as const;

export interface LatencySummary {
  /** Samples in the histogram. */
  count: number;
  minMs: number;
  meanMs: number;
  stdevMs: number;
  maxMs: number;
  p50: number;
  p90: number;
  p99: number;
  'p99.9': number;
  /** Every percentile of PERCENTILES, in ms, with how many samples lie at or below it. */
  percentiles: { percentile: number; ms: number; count: number }[];
  /** The merged histogram, hdr-histogram compressed base64 (µs): decode it with hdr-histogram-js. */
  histogram: string;
}

export function emptyHistogram(): hdr.Histogram {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: MAX_LATENCY_US, numberOfSignificantValueDigits: 3 });
}

export function merge(encoded: string[]): hdr.Histogram {
  const total = emptyHistogram();
  for (const e of encoded) total.add(hdr.decodeFromCompressedBase64(e));
  return total;
}

const ms = (us: number): number => Math.round(us) / 1000;

export function summarize(h: hdr.Histogram): LatencySummary {
  const count = h.totalCount;
  const at = (p: number): number => (count === 0 ? 0 : ms(h.getValueAtPercentile(p)));
  return {
    count,
    minMs: count === 0 ? 0 : ms(h.minNonZeroValue),
    meanMs: count === 0 ? 0 : Math.round(h.mean) / 1000,
    stdevMs: count === 0 ? 0 : Math.round(h.stdDeviation) / 1000,
    maxMs: count === 0 ? 0 : ms(h.maxValue),
    p50: at(50),
    p90: at(90),
    p99: at(99),
    'p99.9': at(99.9),
    percentiles: PERCENTILES.map((p) => ({ percentile: p, ms: at(p), count: Math.ceil((count * p) / 100) })),
    histogram: hdr.encodeIntoCompressedBase64(h),
  };
}
