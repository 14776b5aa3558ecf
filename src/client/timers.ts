/**
 * Timeouts that survive a sleeping laptop or a frozen tab.
 *
 * After a sleep every timer fires at once on wake, before the socket's
 * buffered frames have been read: a reply that arrived in time would be
 * reported as a timeout (centrifuge-js PRs #398/#417: a publish rejected as
 * timed out though the server had applied it, so the app published it again).
 * A timer that fires `graceMs` or more late therefore waits `graceMs` more
 * (at least one more turn of the event loop, where pending frames are read)
 * before it calls back. Lateness is measured on the wall clock (Date.now),
 * which moves across a suspend.
 */

export const LATE_GRACE_MS = 1_000;

/** Like setTimeout, with the overdue grace; returns the cancel function. */
export function graceTimeout(fn: () => void, ms: number, graceMs = LATE_GRACE_MS): () => void {
  const due = Date.now() + ms;
  let handle = setTimeout(() => {
    if (Date.now() - due >= graceMs) handle = setTimeout(fn, graceMs);
    else fn();
  }, ms);
  return () => clearTimeout(handle);
}
