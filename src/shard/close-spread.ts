/**
 * Schedules the start of n sockets' drains (their barrier ping, then the close
 * frame), either all at once or spread over a window:
 *
 *   windowMs 0:  [0 .. batch) [batch .. 2·batch) ...   one batch per event-loop turn
 *   windowMs W:  socket i starts at about i/n · W       checked every TICK_MS, at most
 *                                                      one batch per turn when behind
 *
 * Spreading the close frames spreads the reconnects: n clients told at once
 * come back at once (HAProxy's close-spread-time, Centrifugo's 128-at-a-time
 * close, for the same reason).
 */

/** How often a spread drain checks which sockets are due (ms). */
const TICK_MS = 10;

export interface SpreadRun {
  /** Stops scheduling (a forced drain closes what is left itself). */
  cancel(): void;
}

/**
 * Calls `start(from, to)` for consecutive index ranges covering [0, n), and
 * `done()` once after the last range. Returns a handle to cancel it.
 */
export function spreadOver(n: number, windowMs: number, batch: number, start: (from: number, to: number) => void, done: () => void): SpreadRun {
  let cancelled = false;
  let next = 0;
  const t0 = performance.now();
  let timer: NodeJS.Timeout | undefined;
  let immediate: NodeJS.Immediate | undefined;
  const due = (): number => (windowMs <= 0 ? n : Math.min(n, Math.floor((n * (performance.now() - t0)) / windowMs) + 1));
  const step = (): void => {
    timer = undefined;
    immediate = undefined;
    if (cancelled) return;
    const upTo = Math.min(due(), next + batch);
    if (upTo > next) {
      start(next, upTo);
      next = upTo;
    }
    if (next >= n) {
      done();
      return;
    }
    // Behind schedule (or no window): the next batch on the next turn; else wait for the next tick.
    if (due() > next) immediate = setImmediate(step);
    else timer = setTimeout(step, TICK_MS);
  };
  immediate = setImmediate(step);
  return {
    cancel: () => {
      cancelled = true;
      clearTimeout(timer);
      if (immediate !== undefined) clearImmediate(immediate);
    },
  };
}
