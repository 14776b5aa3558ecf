/** What bench/fanout-throughput.ts and its client threads (bench/fanout-client.ts) share: the thread's init and the slots of the shared counters. */

export interface ClientInit {
  port: number;
  /** Subscribers of this thread. */
  subscribers: number;
  /** Thread index; thread 0 also publishes. */
  index: number;
  threads: number;
  topic: string;
  /** Characters of each publication's data string. */
  size: number;
  inflight: number;
  shared: SharedArrayBuffer;
}

/** Slots of the shared Int32Array. */
export const Slot = {
  /** 0 setting up, 1 publishing, 2 stop publishing. */
  STATE: 0,
  /** Publications the publisher sent. */
  SENT: 1,
  /** Per thread: the fewest publications received by one of its subscribers (then per-thread totals, then socket losses). */
  MIN: 2,
} as const;
export const sharedSlots = (threads: number): number => Slot.MIN + 3 * threads;
export const totalSlot = (threads: number, i: number): number => Slot.MIN + threads + i;
export const lostSlot = (threads: number, i: number): number => Slot.MIN + 2 * threads + i;
