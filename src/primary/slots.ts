/**
 * Per-thread slots in shared memory. Every shard thread alive at the same time
 * needs its own slot (a roll runs two generations side by side), so slots are
 * handed out at spawn and given back at the thread's exit, never by shard number.
 */
export class SlotPool {
  private readonly free: number[];
  constructor(readonly size: number) {
    this.free = Array.from({ length: size }, (_, i) => size - 1 - i);
  }

  get available(): number {
    return this.free.length;
  }

  /** The lowest free slot; throws when every slot is taken (a bug: callers size the pool). */
  acquire(): number {
    const slot = this.free.pop();
    if (slot === undefined) throw new Error(`this should not happen: all ${this.size} shard slots are in use`);
    return slot;
  }

  release(slot: number): void {
    if (!this.free.includes(slot)) {
      this.free.push(slot);
      this.free.sort((a, b) => b - a);
    }
  }
}
