/** The human-readable report of `bench drain`. */
import type { DrainResult } from './drain.js';

export function printDrain(r: DrainResult): string {
  const ms = (v: number | null): string => (v === null ? '-' : `${v} ms`);
  const lines = [
    `server                 ${r.server}`,
    `connections            ${r.connections.opened} opened, ${r.connections.failed} failed; ${r.inflight} in flight each, handler ${r.handlerMs} ms`,
    `${r.signal} → first close ${ms(r.signalToFirstCloseFrameMs)}`,
    `${r.signal} → last close  ${ms(r.signalToLastCloseFrameMs)} (frame), ${ms(r.signalToLastClientClosedMs)} (socket)`,
    `${r.signal} → exit        ${ms(r.signalToExitMs)}, exit code ${r.exitCode ?? 'none (killed)'}`,
    `replies lost           ${r.repliesLost} of ${r.requestsSent} requests${r.lostSentBeforeSignalMs !== null ? `, sent ${r.lostSentBeforeSignalMs[0]}..${r.lostSentBeforeSignalMs[1]} ms before the signal` : ''} (${r.unansweredAfterSignal} sent after the signal unanswered)`,
    `server's own drain     ${ms(r.serverReportedDrainMs)}; server CPU during the drain ${r.serverCpuDuringDrainMs} ms; busiest client loop ${Math.round(r.clientLoopUtilizationMax * 100)}% busy`,
    `close codes            ${JSON.stringify(r.closeCodes)}`,
    `new connection         ${r.newConnectionAfterSignal}`,
    `server RSS             ${(r.serverRss.emptyBytes / 2 ** 20).toFixed(1)} MiB empty, ${(r.serverRss.connectedBytes / 2 ** 20).toFixed(1)} MiB connected, ${r.serverRss.perConnectionBytes} B per connection`,
    `errors                 ${JSON.stringify(r.errors)}`,
  ];
  return `${lines.join('\n')}\n`;
}
