/**
 * Reconnect delays.
 *
 * Failure path: "full jitter" exponential backoff (AWS, "Exponential Backoff
 * And Jitter"; centrifuge-js src/utils.ts):
 *
 *   delay(n) = min(cap, floor + U(0, min(cap, floor * 2^n)))
 *
 * n is the number of failed attempts so far (0 for the first retry). The
 * random term is drawn per attempt from `random` (injectable, so a test or a
 * fleet can control it), and the cap applies to the exponential *before* the
 * jitter is added, so the spread survives at the cap: clients that have all
 * reached the cap still retry at different moments (socket.io-client clamps
 * after jittering, and every client then retries at exactly 5 s).
 *
 * Planned path (a server drained or restarted on purpose, 1001/1012): the
 * server may announce a window `retryMs` in the close reason; the client
 * waits U(0, retryMs). Without a hint it waits U(plannedMinMs, plannedMaxMs).
 */

export interface BackoffOptions {
  /** Smallest failure delay, ms. */
  floorMs: number;
  /** Largest failure delay, ms (the jitter still spreads below it). */
  capMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { floorMs: 500, capMs: 20_000 };

/** 2^31 already exceeds any cap in ms; stops the exponent from overflowing to Infinity. */
const MAX_STEP = 31;

/**
 * The delay before retry number `failures` (0-based), in ms.
 * `minMs` raises the floor for close codes that ask for patience (1008, 1013).
 */
export function failureDelay(failures: number, random: () => number, opts: BackoffOptions = DEFAULT_BACKOFF, minMs = 0): number {
  const floor = Math.max(opts.floorMs, minMs);
  const cap = Math.max(opts.capMs, floor);
  const step = Math.min(Math.max(0, Math.floor(failures)), MAX_STEP);
  const spread = Math.min(cap, floor * 2 ** step);
  return Math.min(cap, floor + clamp01(random()) * spread);
}

/** Spread of a planned reconnect without a server hint, ms: U[250, 3000]. */
export const PLANNED_WINDOW = { minMs: 250, maxMs: 3_000 } as const;

/** The delay after a planned close: U(0, retryMs) with the server's hint, else U[250, 3000] ms. */
export function plannedDelay(retryMs: number | undefined, random: () => number): number {
  if (retryMs !== undefined) return clamp01(random()) * retryMs;
  return PLANNED_WINDOW.minMs + clamp01(random()) * (PLANNED_WINDOW.maxMs - PLANNED_WINDOW.minMs);
}

/** A random() that misbehaves (NaN, 1.5) must not produce a negative or runaway delay. */
function clamp01(x: number): number {
  return x >= 0 && x < 1 ? x : x >= 1 ? 1 : 0;
}
