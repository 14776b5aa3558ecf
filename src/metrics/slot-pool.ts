/**
 * The primary's side of the shared metrics memory: a pool of slots (layout.ts),
 * allocated to shard threads at spawn and retired when they exit.
 *
 * Slots are not indexed by shard: during a SIGHUP roll a shard's replacement
 * runs beside it before the old thread exits, and a crashed shard's restart
 * may be spawned before the scrape that sees it gone. So the pool holds twice
 * the shard count plus one, and a slot is reused only after it was retired.
 *
 * Invariant (counters never go backwards): for every counter or histogram
 * cell i, total(i) = retired[i] + sum over live slots of slot[i]. retire()
 * adds the exiting slot's cells to `retired` and zeroes the slot in the same
 * synchronous step, and only after its thread has exited (no writer is left),
 * so no scrape can see the sum drop.
 */
import { GAUGE_BASE, SLOT_LENGTH, SLOT_BYTES, type MetricsInit } from './layout.js';

export interface LiveSlot {
  slot: number;
  /** The shard index the thread serves (two live slots can share one during a roll). */
  shard: number;
}

export class SlotPool {
  readonly buffer: SharedArrayBuffer;
  readonly slots: number;
  private readonly cells: Float64Array;
  private readonly retired = new Float64Array(GAUGE_BASE);
  private readonly free: number[] = [];
  private readonly live = new Map<number, LiveSlot>();
  /** Spawns that found no free slot (their shard counts into private memory): should stay 0. */
  overflows = 0;

  constructor(
    shards: number,
    readonly sampleEvery = 16,
  ) {
    this.slots = shards * 2 + 1;
    this.buffer = new SharedArrayBuffer(this.slots * SLOT_BYTES);
    this.cells = new Float64Array(this.buffer);
    for (let s = this.slots - 1; s >= 0; s--) this.free.push(s);
  }

  /** A slot for a shard thread about to be spawned; pass the result in its init data. */
  allocate(shard: number): MetricsInit {
    const slot = this.free.pop();
    if (slot === undefined) {
      this.overflows++;
      return { buffer: null, slot: -1, sampleEvery: this.sampleEvery };
    }
    this.live.set(slot, { slot, shard });
    return { buffer: this.buffer, slot, sampleEvery: this.sampleEvery };
  }

  /**
   * The thread that owned `slot` has exited: its counts join the retired
   * totals and the slot is zeroed and freed. Calling it while the thread may
   * still write would lose those writes; a second call is a no-op.
   */
  retire(slot: number): void {
    if (!this.live.delete(slot)) return;
    const base = slot * SLOT_LENGTH;
    for (let i = 0; i < GAUGE_BASE; i++) this.retired[i] = (this.retired[i] as number) + (this.cells[base + i] as number);
    this.cells.fill(0, base, base + SLOT_LENGTH);
    this.free.push(slot);
  }

  /** Counter or histogram cell `i` over the process's life (live slots plus retired ones). */
  total(i: number): number {
    let sum = this.retired[i] as number;
    for (const { slot } of this.live.values()) sum += this.cells[slot * SLOT_LENGTH + i] as number;
    return sum;
  }

  /** Gauge `i` of each live slot, summed per shard index (a roll briefly has two threads on one index). */
  perShard(i: number): Map<number, number> {
    const out = new Map<number, number>();
    for (const { slot, shard } of this.live.values()) out.set(shard, (out.get(shard) ?? 0) + (this.cells[slot * SLOT_LENGTH + i] as number));
    return out;
  }

  /** Gauge `i` of each live slot, the largest per shard index (for lag and utilisation). */
  maxPerShard(i: number): Map<number, number> {
    const out = new Map<number, number>();
    for (const { slot, shard } of this.live.values()) out.set(shard, Math.max(out.get(shard) ?? 0, this.cells[slot * SLOT_LENGTH + i] as number));
    return out;
  }

  get liveSlots(): number {
    return this.live.size;
  }
}
