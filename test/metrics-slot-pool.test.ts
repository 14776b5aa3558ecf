/**
 * The shared-memory slot pool (src/metrics/slot-pool.ts) with real shard
 * meters writing into it: totals never drop when a slot retires, slots are
 * reused only after retirement, and a pool with no free slot still lets a
 * shard count (privately) instead of failing its spawn.
 */
import { describe, expect, it } from 'vitest';
import { C, G, HIST_BASE, HOOK_BUCKETS, SERVER_CLOSE_CODES, serverCloseIndex } from '../src/metrics/layout.js';
import { NOT_CLOSED_BY_SERVER, ShardMeter } from '../src/metrics/shard-meter.js';
import { SlotPool } from '../src/metrics/slot-pool.js';

describe('metrics slot pool', () => {
  it("keeps a retired slot's counters in the totals and zeroes the slot for its next owner", () => {
    const pool = new SlotPool(2);
    const a = pool.allocate(0);
    const b = pool.allocate(1);
    const ma = new ShardMeter(a);
    const mb = new ShardMeter(b);
    for (let i = 0; i < 5; i++) ma.received(10);
    mb.received(7);
    ma.opened(3);
    expect(pool.total(C.MESSAGES_RECEIVED)).toBe(6);
    expect(pool.total(C.BYTES_RECEIVED)).toBe(57);
    expect(pool.perShard(G.CONNECTIONS).get(0)).toBe(3);

    pool.retire(a.slot);
    pool.retire(a.slot); // a second retire of the same slot changes nothing
    expect(pool.total(C.MESSAGES_RECEIVED)).toBe(6);
    expect(pool.total(C.BYTES_RECEIVED)).toBe(57);
    expect(pool.perShard(G.CONNECTIONS).has(0)).toBe(false); // gauges leave with their thread

    // The replacement may get the same slot; it starts from zero and the totals keep growing.
    const c = pool.allocate(0);
    const mc = new ShardMeter(c);
    expect(mc.c[C.MESSAGES_RECEIVED]).toBe(0);
    mc.received(1);
    expect(pool.total(C.MESSAGES_RECEIVED)).toBe(7);
  });

  it('has room for a roll (each shard twice, plus one); past that a shard counts privately', () => {
    const pool = new SlotPool(2);
    const inits = Array.from({ length: 5 }, (_, i) => pool.allocate(i % 2));
    expect(new Set(inits.map((i) => i.slot)).size).toBe(5);
    expect(pool.overflows).toBe(0);
    const extra = pool.allocate(0);
    expect(extra.buffer).toBeNull();
    expect(pool.overflows).toBe(1);
    new ShardMeter(extra).received(1); // counts into private memory, nothing shared changes
    expect(pool.total(C.MESSAGES_RECEIVED)).toBe(0);
  });

  it('classifies close codes into the closed label set and sampled hook times into buckets', () => {
    expect(SERVER_CLOSE_CODES[serverCloseIndex(1001)]).toBe('1001');
    expect(SERVER_CLOSE_CODES[serverCloseIndex(4000)]).toBe('app');
    expect(SERVER_CLOSE_CODES[serverCloseIndex(1014)]).toBe('other');
    expect(SERVER_CLOSE_CODES[serverCloseIndex(-1)]).toBe('none');

    const pool = new SlotPool(1);
    const m = new ShardMeter(pool.allocate(0));
    m.closed(1012, 1012, 0);
    m.closed(NOT_CLOSED_BY_SERVER, 1000, 0);
    m.closed(NOT_CLOSED_BY_SERVER, 1006, 0);
    expect([0, 1, 2].map((k) => pool.total(C.CLOSED_BY + k))).toEqual([1, 1, 1]);
    expect(pool.total(C.SERVER_CLOSE + serverCloseIndex(1012))).toBe(1);

    m.observeHook('open', 0.003); // hooks: upgrade=0, open=1
    m.observeHook('open', 99);
    const open = HIST_BASE + (HOOK_BUCKETS.length + 2);
    expect(pool.total(open + HOOK_BUCKETS.indexOf(0.005))).toBe(1);
    expect(pool.total(open + HOOK_BUCKETS.length)).toBe(1); // above the last bound: +Inf only
    expect(pool.total(open + HOOK_BUCKETS.length + 1)).toBeCloseTo(99.003);

    let sampled = 0;
    for (let i = 0; i < 160; i++) if (m.sample()) sampled++;
    expect(sampled).toBe(10); // one in 16
  });
});
