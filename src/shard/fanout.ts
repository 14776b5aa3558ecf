/**
 * Publications to many sockets, written in slices between turns of the event
 * loop so that a large fan-out cannot hold up everyone else's messages.
 *
 * A publication is written at once to as many subscribers as fit in
 * SLICE_MS; the rest wait here as a job and are written by the next turns,
 * after uWS has read the sockets. Order per socket is kept: each socket knows
 * where it waits (its slots, oldest first), and before its own conn.send()
 * goes out, pull() writes the publications still due to it, ahead of their
 * turn. So every socket sees messages in the order they were sent or
 * published on its shard, and a subscriber's own replies never wait for a
 * fan-out to the other subscribers.
 *
 * Bounded: past MAX_JOBS waiting jobs, the shard writes them all before going
 * on, as it would without slicing.
 */
import type { Payload } from '../app.js';
import type { PublishPayload } from '../protocol.js';

/** What the fan-out needs of a socket (SocketConnection). */
export interface FanoutTarget {
  /** Publications waiting here for this socket. */
  pendingFanout: number;
  /** Where they wait; null when nothing does (kept by the Fanout). */
  fanoutSlots: FanoutSlots | null;
  send(data: Payload | PublishPayload, isBinary: boolean): boolean;
  /** Writes one waiting publication (pendingFanout is decremented first). */
  deliverFanout(data: Payload | PublishPayload, isBinary: boolean): void;
}

interface Job {
  data: Payload | PublishPayload;
  binary: boolean;
  /** null where the target took its message ahead of the job's turn (pull). */
  targets: (FanoutTarget | null)[];
  next: number;
}

/** One socket's places in the waiting jobs, in job order: jobs[k].targets[index[k]] is this socket. */
export interface FanoutSlots {
  jobs: Job[];
  index: number[];
  head: number;
}

/** Time one turn may spend writing a fan-out before letting uWS read its sockets. */
export const SLICE_MS = 1;
/** Waiting jobs past which the shard stops slicing and catches up. */
export const MAX_JOBS = 4096;
/** Sends between two looks at the clock. */
const CHECK_EVERY = 16;

function wait(target: FanoutTarget, job: Job, index: number): void {
  const slots = (target.fanoutSlots ??= { jobs: [], index: [], head: 0 });
  slots.jobs.push(job);
  slots.index.push(index);
  target.pendingFanout++;
}

/** The target's oldest slot was served by its job's turn. */
function advance(target: FanoutTarget): void {
  const slots = target.fanoutSlots as FanoutSlots;
  slots.jobs[slots.head] = undefined as unknown as Job; // the job may be collected once done
  if (++slots.head === slots.jobs.length) {
    target.fanoutSlots = null;
  } else if (slots.head >= 64 && slots.head * 2 >= slots.jobs.length) {
    slots.jobs.splice(0, slots.head);
    slots.index.splice(0, slots.head);
    slots.head = 0;
  }
}

export class Fanout {
  private readonly jobs: Job[] = [];
  private head = 0;
  private scheduled = false;

  get waiting(): number {
    return this.jobs.length - this.head;
  }

  /** Delivers to every target: at once while within SLICE_MS, the rest in later turns. */
  publish(targets: Iterable<FanoutTarget>, data: Payload | PublishPayload, binary: boolean): void {
    if (this.waiting > 0) {
      const job: Job = { data, binary, targets: [...targets], next: 0 };
      job.targets.forEach((t, i) => wait(t as FanoutTarget, job, i));
      this.push(job);
      return;
    }
    // Nothing waits, so no target has anything pending: write directly while the slice lasts.
    const deadline = performance.now() + SLICE_MS;
    let rest: Job | null = null;
    let n = 0;
    for (const t of targets) {
      if (rest !== null) {
        wait(t, rest, rest.targets.push(t) - 1);
        continue;
      }
      t.send(data, binary);
      if (++n % CHECK_EVERY === 0 && performance.now() > deadline) rest = { data, binary, targets: [], next: 0 };
    }
    if (rest !== null && rest.targets.length > 0) this.push(rest);
  }

  /** Writes now, in order, every publication still waiting for this target (its own send goes next). */
  pull(target: FanoutTarget): void {
    const slots = target.fanoutSlots;
    if (slots === null) return;
    target.fanoutSlots = null;
    for (let k = slots.head; k < slots.jobs.length; k++) {
      const job = slots.jobs[k] as Job;
      job.targets[slots.index[k] as number] = null;
      target.deliverFanout(job.data, job.binary);
    }
  }

  private push(job: Job): void {
    this.jobs.push(job);
    if (this.waiting > MAX_JOBS) {
      this.run(Infinity);
      return;
    }
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.turn);
    }
  }

  private readonly turn = (): void => {
    this.scheduled = false;
    this.run(SLICE_MS);
    if (this.waiting > 0 && !this.scheduled) {
      this.scheduled = true;
      setImmediate(this.turn);
    }
  };

  private run(sliceMs: number): void {
    const deadline = performance.now() + sliceMs;
    let n = 0;
    while (this.head < this.jobs.length) {
      const job = this.jobs[this.head] as Job;
      while (job.next < job.targets.length) {
        const target = job.targets[job.next++];
        if (target != null) {
          // Jobs run in order, so this is the target's oldest slot.
          advance(target);
          target.deliverFanout(job.data, job.binary);
        }
        if (++n % CHECK_EVERY === 0 && performance.now() > deadline) return;
      }
      this.jobs[this.head++] = undefined as unknown as Job;
      if (this.head === this.jobs.length) {
        this.jobs.length = 0;
        this.head = 0;
      } else if (this.head > 1024 && this.head * 2 > this.jobs.length) {
        this.jobs.splice(0, this.head);
        this.head = 0;
      }
    }
  }
}
