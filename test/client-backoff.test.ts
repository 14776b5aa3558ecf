/** Reconnect delays: full jitter with the spread kept at the cap, planned closes within the server's window. */
import { describe, expect, it, vi } from 'vitest';
import { DEFAULT_BACKOFF, failureDelay, PLANNED_WINDOW, plannedDelay } from '../src/client/backoff.js';
import { graceTimeout } from '../src/client/timers.js';

/** A seeded PRNG (mulberry32), so a "random" sequence is reproducible. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('failureDelay', () => {
  it('grows as floor + U(0, floor * 2^n): the bounds of the first attempts', () => {
    expect(failureDelay(0, () => 0)).toBe(500);
    expect(failureDelay(0, () => 0.999999)).toBeCloseTo(1000, 0);
    expect(failureDelay(1, () => 0.999999)).toBeCloseTo(1500, 0);
    expect(failureDelay(2, () => 0.999999)).toBeCloseTo(2500, 0);
    expect(failureDelay(3, () => 0.5)).toBe(500 + 0.5 * 4000);
  });

  it('keeps the jitter at the cap: 1,000 clients at attempt 30 spread over [floor, cap], never in lock-step', () => {
    const random = seeded(42);
    const delays = Array.from({ length: 1000 }, () => failureDelay(30, random));
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(DEFAULT_BACKOFF.floorMs);
    expect(Math.max(...delays)).toBeLessThanOrEqual(DEFAULT_BACKOFF.capMs);
    const distinct = new Set(delays.map((d) => Math.round(d)));
    expect(distinct.size).toBeGreaterThan(900);
    // Spread, not bunched at the cap (socket.io-client: every client at exactly 5,000 ms).
    const atCap = delays.filter((d) => d === DEFAULT_BACKOFF.capMs).length;
    expect(atCap).toBeLessThan(600);
    const below10s = delays.filter((d) => d < 10_000).length;
    expect(below10s).toBeGreaterThan(300);
  });

  it('draws a fresh random value for every attempt', () => {
    const random = vi.fn(() => 0.25);
    for (let i = 0; i < 5; i++) failureDelay(i, random);
    expect(random).toHaveBeenCalledTimes(5);
  });

  it('raises the floor for codes that ask for patience, and never goes below it', () => {
    expect(failureDelay(0, () => 0, DEFAULT_BACKOFF, 5000)).toBe(5000);
    expect(failureDelay(0, () => 0.999999, DEFAULT_BACKOFF, 5000)).toBeLessThanOrEqual(10_000);
    expect(failureDelay(10, () => 0.5, DEFAULT_BACKOFF, 1000)).toBeGreaterThanOrEqual(1000);
  });

  it('stays finite and non-negative for any attempt count and a misbehaving random()', () => {
    for (const n of [0, 1, 31, 64, 1e6, Number.MAX_SAFE_INTEGER]) {
      for (const r of [() => NaN, () => -1, () => 2]) {
        const d = failureDelay(n, r);
        expect(Number.isFinite(d)).toBe(true);
        expect(d).toBeGreaterThanOrEqual(500);
        expect(d).toBeLessThanOrEqual(20_000);
      }
    }
  });
});

describe('plannedDelay', () => {
  it('waits U(0, retryMs) inside the window the server announced', () => {
    expect(plannedDelay(5000, () => 0)).toBe(0);
    expect(plannedDelay(5000, () => 0.5)).toBe(2500);
    const random = seeded(7);
    const delays = Array.from({ length: 1000 }, () => plannedDelay(5000, random));
    expect(Math.max(...delays)).toBeLessThan(5000);
    // Roughly uniform: each fifth of the window gets between 10 % and 30 % of the clients.
    for (let i = 0; i < 5; i++) {
      const n = delays.filter((d) => d >= i * 1000 && d < (i + 1) * 1000).length;
      expect(n).toBeGreaterThan(100);
      expect(n).toBeLessThan(300);
    }
  });

  it('without a hint waits a short random delay in [250, 3000] ms', () => {
    expect(plannedDelay(undefined, () => 0)).toBe(PLANNED_WINDOW.minMs);
    expect(plannedDelay(undefined, () => 0.999999)).toBeCloseTo(PLANNED_WINDOW.maxMs, 0);
  });
});

describe('graceTimeout (overdue timers after a sleep)', () => {
  it('fires on time when the loop is not late', () => {
    vi.useFakeTimers();
    try {
      const fn = vi.fn();
      graceTimeout(fn, 10_000);
      vi.advanceTimersByTime(9_999);
      expect(fn).not.toHaveBeenCalled();
      vi.advanceTimersByTime(1);
      expect(fn).toHaveBeenCalledTimes(1);
    } finally {
      vi.useRealTimers();
    }
  });

  it('waits one grace period more when it fires a second or more late (the laptop slept)', () => {
    vi.useFakeTimers();
    try {
      const fn = vi.fn();
      graceTimeout(fn, 10_000);
      // The wall clock jumps 60 s (a suspend) before the timer gets to run.
      vi.setSystemTime(Date.now() + 60_000);
      vi.advanceTimersByTime(10_000);
      expect(fn).not.toHaveBeenCalled(); // a reply read in the next turn can still cancel it
      vi.advanceTimersByTime(1_000);
      expect(fn).toHaveBeenCalledTimes(1);
    } finally {
      vi.useRealTimers();
    }
  });

  it('can be cancelled during its grace period', () => {
    vi.useFakeTimers();
    try {
      const fn = vi.fn();
      const cancel = graceTimeout(fn, 1_000);
      vi.setSystemTime(Date.now() + 5_000);
      vi.advanceTimersByTime(1_000);
      cancel();
      vi.advanceTimersByTime(5_000);
      expect(fn).not.toHaveBeenCalled();
    } finally {
      vi.useRealTimers();
    }
  });
});
