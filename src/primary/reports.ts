/** Totals over shards' drain reports, for the `stopped` and `reloaded` log lines. */
import type { DrainReport } from '../protocol.js';

const SUMMED = [
  'connectionsClosed',
  'connectionsForced',
  'messagesFlushed',
  'messagesDropped',
  'handlersAbandoned',
  'offloadAwaited',
  'offloadAbandoned',
  'barrierTimeouts',
] as const satisfies readonly (keyof DrainReport)[];

export type ReportTotals = Record<(typeof SUMMED)[number], number>;

export function totals(reports: readonly DrainReport[]): ReportTotals {
  const out = Object.fromEntries(SUMMED.map((k) => [k, 0])) as ReportTotals;
  for (const r of reports) for (const k of SUMMED) out[k] += r[k];
  return out;
}
