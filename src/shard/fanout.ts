/**
 * Publications to many sockets, written in slices between turns of the event
 * loop so that a large fan-out cannot hold up everyone else's messages.
 *
 * A publication is written at once to as many subscribers as fit in
 * SLICE_MS; the rest wait here as a job and are written by the next turns,
 * after uWS has read the sockets. Order per socket is kept: while a socket has
 * publications waiting here, its own conn.send() calls wait here too, behind
 * them (a job of one), so every socket sees messages in the order they were
 * sent or published on its shard.
 *
 * Bounded: past MAX_JOBS waiting jobs, the shard writes them all before going
 * on, as it would without slicing.
 */
import type { Payload } from '../app.js';
import type { PublishPayload } from '../protocol.js';

/** What the fan-out needs of a socket (SocketConnection). */
export interface FanoutTarget {
  /** Publications and sends waiting here for this socket. */
  pendingFanout: number;
  send(data: Payload | PublishPayload, isBinary: boolean): boolean;
  /** Writes one waiting message (pendingFanout is decremented first). */
  deliverFanout(data: Payload | PublishPayload, isBinary: boolean): void;
}

interface Job {
  data: Payload | PublishPayload;
  binary: boolean;
  targets: FanoutTarget[];
  next: number;
}

/** Time one turn may spend writing a fan-out before letting uWS read its sockets. */
export const SLICE_MS = 1;
/** Waiting jobs past which the shard stops slicing and catches up. */
export const MAX_JOBS = 4096;
/** Sends between two looks at the clock. */
const CHECK_EVERY = 16;

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
      const all = [...targets];
      for (const t of all) t.pendingFanout++;
      this.push({ data, binary, targets: all, next: 0 });
      return;
    }
    // Nothing waits, so no target has anything pending: write directly while the slice lasts.
    const deadline = performance.now() + SLICE_MS;
    let rest: FanoutTarget[] | null = null;
    let n = 0;
    for (const t of targets) {
      if (rest !== null) {
        t.pendingFanout++;
        rest.push(t);
        continue;
      }
      t.send(data, binary);
      if (++n % CHECK_EVERY === 0 && performance.now() > deadline) rest = [];
    }
    if (rest !== null && rest.length > 0) this.push({ data, binary, targets: rest, next: 0 });
  }

  /** A send to a socket that has publications waiting: it goes behind them. */
  defer(target: FanoutTarget, data: Payload | PublishPayload, binary: boolean): void {
    target.pendingFanout++;
    this.push({ data, binary, targets: [target], next: 0 });
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
        (job.targets[job.next++] as FanoutTarget).deliverFanout(job.data, job.binary);
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
