/**
 * Publications to many sockets, written in slices between turns of the event
 * loop so that a large fan-out cannot hold up everyone else's messages.
 *
 * A publication is written at once to as many subscribers as fit in
 * SLICE_MS; the rest wait here as a job and are written by the next turns,
 * after uWS has read the sockets. Order per socket is kept: each socket keeps
 * the jobs it waits in (oldest first), and before its own conn.send() goes
 * out, pull() writes the publications still due to it, ahead of their turn;
 * the jobs then pass over it. So every socket sees messages in the order
 * they were sent or published on its shard, and a subscriber's own replies
 * never wait for a fan-out to the other subscribers. A publication made while
 * another is being written directly (a close hook of a socket that writing
 * cut off) waits until that one is written or queued.
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
  /** The jobs they wait in, oldest first from fanoutHead; null until the first (kept by the Fanout). */
  fanoutJobs: Job[] | null;
  fanoutHead: number;
  /** seq of the last job whose publication pull() wrote to this socket ahead of its turn. */
  pulledSeq: number;
  send(data: Payload | PublishPayload, isBinary: boolean): boolean;
  /** Writes one waiting publication (pendingFanout is decremented first). */
  deliverFanout(data: Payload | PublishPayload, isBinary: boolean): void;
}

export interface Job {
  /** Increasing: a target whose pulledSeq is at least this one has had its publication. */
  seq: number;
  data: Payload | PublishPayload;
  binary: boolean;
  targets: FanoutTarget[];
  next: number;
}

interface Later {
  targets: FanoutTarget[];
  data: Payload | PublishPayload;
  binary: boolean;
}

/** Time one turn may spend writing a fan-out before letting uWS read its sockets. */
export const SLICE_MS = 1;
/** Waiting jobs past which the shard stops slicing and catches up. */
export const MAX_JOBS = 4096;
/** Sends between two looks at the clock. */
const CHECK_EVERY = 16;

function wait(target: FanoutTarget, job: Job): void {
  (target.fanoutJobs ??= []).push(job);
  target.pendingFanout++;
}

/** The target's oldest waiting job is being served in its turn. */
function advance(target: FanoutTarget): void {
  const jobs = target.fanoutJobs as Job[];
  jobs[target.fanoutHead] = undefined as unknown as Job; // the job may be collected once done
  if (++target.fanoutHead === jobs.length) {
    jobs.length = 0;
    target.fanoutHead = 0;
  } else if (target.fanoutHead >= 64 && target.fanoutHead * 2 >= jobs.length) {
    jobs.splice(0, target.fanoutHead);
    target.fanoutHead = 0;
  }
}

export class Fanout {
  private readonly jobs: Job[] = [];
  private head = 0;
  private seq = 0;
  private scheduled = false;
  /** True while publish() writes directly; publications made meanwhile wait in `later`. */
  private writing = false;
  private later: Later[] = [];

  get waiting(): number {
    return this.jobs.length - this.head;
  }

  /** Delivers to every target: at once while within SLICE_MS, the rest in later turns. */
  publish(targets: Iterable<FanoutTarget>, data: Payload | PublishPayload, binary: boolean): void {
    if (this.writing) {
      // Published while a publication is being written directly (by the close
      // hook of a socket that write cut off, say): it goes out after that one.
      this.later.push({ targets: [...targets], data, binary });
      return;
    }
    if (this.waiting > 0) {
      const job: Job = { seq: ++this.seq, data, binary, targets: [...targets], next: 0 };
      for (const t of job.targets) wait(t, job);
      this.push(job);
      return;
    }
    // Nothing waits, so no target has anything pending: write directly while the slice lasts.
    const deadline = performance.now() + SLICE_MS;
    this.writing = true;
    let rest: Job | null = null;
    let n = 0;
    try {
      for (const t of targets) {
        if (rest !== null) {
          rest.targets.push(t);
          wait(t, rest);
          continue;
        }
        t.send(data, binary);
        if (++n % CHECK_EVERY === 0 && performance.now() > deadline) rest = { seq: ++this.seq, data, binary, targets: [], next: 0 };
      }
    } finally {
      this.writing = false;
    }
    if (rest !== null && rest.targets.length > 0) this.push(rest);
    if (this.later.length > 0) {
      const later = this.later;
      this.later = [];
      for (const p of later) this.publish(p.targets, p.data, p.binary);
    }
  }

  /** Writes now, in order, every publication still waiting for this target (its own send goes next). */
  pull(target: FanoutTarget): void {
    const jobs = target.fanoutJobs;
    if (jobs === null || target.fanoutHead === jobs.length) return;
    const pending = jobs.slice(target.fanoutHead);
    jobs.length = 0;
    target.fanoutHead = 0;
    target.pulledSeq = (pending[pending.length - 1] as Job).seq;
    for (const job of pending) target.deliverFanout(job.data, job.binary);
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
        const target = job.targets[job.next++] as FanoutTarget;
        if (target.pulledSeq < job.seq) {
          // Jobs run in order, so this is the target's oldest waiting job.
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
