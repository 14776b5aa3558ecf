/** The human-readable reports of `bench load` and `bench pubsub` (stdout; --json prints the objects instead). */
import type { LatencySummary } from './latency.js';
import type { LoadResult } from './load.js';
import type { PubsubResult } from './pubsub.js';
import { table } from './table.js';
import type { ThresholdResult } from './thresholds.js';

export function latencyTable(title: string, l: LatencySummary): string {
  const head = ['Stat', ...l.percentiles.map((p) => (p.percentile === 100 ? 'max' : `p${p.percentile}`)), 'mean', 'stdev'];
  const rows = [
    [`${title} (ms)`, ...l.percentiles.map((p) => p.ms), l.meanMs, l.stdevMs],
    ['samples at or below', ...l.percentiles.map((p) => p.count), '', ''],
  ];
  return table(head, rows);
}

export function thresholdLines(results: ThresholdResult[]): string {
  if (results.length === 0) return '';
  return table(
    ['threshold', 'actual', 'result'],
    results.map((r) => [r.expr, r.actual === null ? 'missing' : String(r.actual), r.ok ? 'ok' : 'FAILED']),
  );
}

function clientLine(c: LoadResult['client']): string {
  return `client         CPU ${c.cpuPercent}% of one core (${c.cores} cores), busiest loop ${Math.round(c.loopUtilizationMax * 100)}% busy, loop delay p99 ${c.loopDelayP99Ms} ms max ${c.loopDelayMaxMs} ms`;
}

export function printLoad(r: LoadResult, thresholds: ThresholdResult[]): string {
  const model =
    r.mode === 'open'
      ? `open model: ${r.options.rate} msg/s on a fixed schedule, latency from the intended send time`
      : `closed model: ${r.options.inflight} in flight per connection, latency from the actual send (hides stalls: use --rate)`;
  const out = [
    ...(r.partial ? ['PARTIAL RESULTS: the run was interrupted'] : []),
    `url            ${r.url} (${model})`,
    `connections    ${r.connections.opened} opened, ${r.connections.failed} failed, ${r.connections.perSec}/s over ${r.connections.openMs} ms`,
    `messages       ${r.messages.received} of ${r.messages.sent} answered in ${r.messages.durationMs} ms: ${r.messages.perSec}/s; ${r.messages.unanswered} unanswered, ${r.messages.late} sent late (worst ${r.messages.maxLagMs} ms), ${r.messages.otherFrames} other frames ignored`,
    latencyTable('latency', r.latency),
    clientLine(r.client),
    `close codes    ${JSON.stringify(r.closeCodes)}`,
    `errors         ${JSON.stringify(r.errors)}`,
    ...r.warnings.map((w) => `WARNING: ${w}`),
    thresholdLines(thresholds),
  ];
  return `${out.filter((l) => l !== '').join('\n')}\n`;
}

export function printPubsub(r: PubsubResult, thresholds: ThresholdResult[]): string {
  const out = [
    ...(r.partial ? ['PARTIAL RESULTS: the run was interrupted'] : []),
    `url            ${r.url}: ${r.subscribers} subscribers, ${r.publishers} publishers, ${r.topics.length} topic(s), ${r.rate} publications/s`,
    `connections    ${r.connections.opened} opened, ${r.connections.failed} failed; ${r.unacknowledged} subscriptions unacknowledged`,
    `publications   ${r.published} published (${r.publishFailed} not written); deliveries expected ${r.expected}, delivered ${r.delivered}, lost ${r.lost}, duplicated ${r.duplicates}`,
    `gaps           ${r.gaps} gap events; ${r.subscribersWithLoss} subscribers missed something (worst ${r.worstSubscriberLost} lost, largest gap ${r.maxGap}); ${r.otherFrames} other frames ignored`,
    latencyTable('publish→receive', r.latency),
    clientLine(r.client),
    `close codes    ${JSON.stringify(r.closeCodes)}`,
    `errors         ${JSON.stringify(r.errors)}`,
    ...r.warnings.map((w) => `WARNING: ${w}`),
    thresholdLines(thresholds),
  ];
  return `${out.filter((l) => l !== '').join('\n')}\n`;
}
