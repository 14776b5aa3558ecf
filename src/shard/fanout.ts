/**
 * Publications to many sockets, batched per socket and written corked, in
 * slices between turns of the event loop.
 *
 *   publish(P1) ─┐                         socket A: [P1 P2 P3] ─► cork, 3 frames, 1 write(2)
 *   publish(P2) ─┼─► each subscriber's  ─►  socket B: [P1 P2 P3] ─► cork, 3 frames, 1 write(2)
 *   publish(P3) ─┘   own list (in order)    ...      (the turn: setImmediate, ≤ SLICE_MS, then the next turn)
 *
 * Why: a send outside a cork is one write(2) per frame (65% of the shard's
 * CPU in a 200-subscriber fan-out); uWS's own publish queues per subscriber
 * and writes each one's frames corked once per loop iteration. So do we:
 * publish() only appends the publication to each subscriber's list and puts
 * sockets that had nothing pending on the `ready` list; the turn (after uWS
 * has read every socket that had data, so every publication of that loop
 * iteration is in) writes each ready socket's whole list inside one cork.
 *
 * Order per socket: a socket's list is FIFO, and before its own conn.send()
 * goes out, pull() writes the publications still due to it (send() calls
 * it), so every socket sees messages in the order they were sent or published
 * on its shard. A publication made while the turn is writing (the close hook
 * of a socket a write cut off) is appended like any other and goes out after
 * the ones before it.
 *
 * Fairness: a turn writes sockets until SLICE_MS has passed, then lets uWS
 * read again; a subscriber's own replies never wait for the fan-out to the
 * others (its send pulls its own list first). Bounded: past MAX_JOBS waiting
 * publications the shard writes them all before going on.
 */
import type { Payload } from '../app.js';
import type { PublishPayload } from '../protocol.js';

/** One publication waiting for some sockets. */
export interface Job {
  data: Payload | PublishPayload;
  binary: boolean;
  /** Sockets it still waits for. */
  left: number;
}

/** What the fan-out needs of a socket (SocketConnection). */
export interface FanoutTarget {
  /** Publications waiting for this socket: fanoutJobs[fanoutHead .. fanoutHead + pendingFanout). Kept by the Fanout. */
  pendingFanout: number;
  /** Null until the first publication; slots before fanoutHead are cleared. */
  fanoutJobs: Job[] | null;
  fanoutHead: number;
  /** Runs `write` with the socket corked (its frames leave in one write(2)), or just runs it when the socket is gone. */
  corkFanout(write: () => void): void;
  /** Writes one waiting publication (pendingFanout was decremented first). */
  deliverFanout(data: Payload | PublishPayload, isBinary: boolean): void;
}

/** Time one turn may spend writing before letting uWS read its sockets (ms). */
export const SLICE_MS = 1;
/** Waiting publications past which the shard stops slicing and catches up. */
export const MAX_JOBS = 4096;
/** Frames written between two looks at the clock. */
const CHECK_EVERY = 64;
/** A socket's list longer than this is let go once written, rather than kept for reuse. */
const KEEP_SLOTS = 256;

export class Fanout {
  /** Sockets with publications pending, in the order they got their first; may hold sockets pulled meanwhile (skipped). */
  private ready: FanoutTarget[] = [];
  private readyHead = 0;
  /** Publications not yet written to every socket they wait for. */
  private jobs = 0;
  private scheduled = false;
  /** The socket whose list writeCurrent() writes (a stack: a write may pull another socket). */
  private current: FanoutTarget | null = null;

  get waiting(): number {
    return this.jobs;
  }

  /** Queues a publication for every target; the turn writes it (pull() earlier for a socket that sends). */
  publish(targets: Iterable<FanoutTarget>, data: Payload | PublishPayload, binary: boolean): void {
    const job: Job = { data, binary, left: 0 };
    const ready = this.ready;
    for (const t of targets) {
      let list = t.fanoutJobs;
      if (list === null) list = t.fanoutJobs = [];
      if (t.pendingFanout === 0) {
        ready.push(t);
        t.fanoutHead = 0;
        list[0] = job;
      } else {
        list[t.fanoutHead + t.pendingFanout] = job;
      }
      t.pendingFanout++;
      job.left++;
    }
    if (job.left === 0) return;
    if (++this.jobs > MAX_JOBS) {
      this.run(Infinity);
      return;
    }
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.turn);
    }
  }

  /** Writes now, in order, every publication still waiting for this target (its own send goes next). */
  pull(target: FanoutTarget): void {
    if (target.pendingFanout > 0) this.write(target);
  }

  private write(target: FanoutTarget): void {
    const outer = this.current;
    this.current = target;
    try {
      target.corkFanout(this.writeCurrent);
    } finally {
      this.current = outer;
    }
  }

  /** Writes the current target's list; publications appended meanwhile (by a close hook) are written too. */
  private readonly writeCurrent = (): void => {
    const t = this.current as FanoutTarget;
    const list = t.fanoutJobs as Job[];
    while (t.pendingFanout > 0) {
      const job = list[t.fanoutHead] as Job;
      list[t.fanoutHead++] = undefined as unknown as Job; // the payload may be collected once written everywhere
      t.pendingFanout--;
      if (--job.left === 0) this.jobs--;
      t.deliverFanout(job.data, job.binary);
    }
    t.fanoutHead = 0;
    if (list.length > KEEP_SLOTS) t.fanoutJobs = null;
  };

  private readonly turn = (): void => {
    this.scheduled = false;
    this.run(SLICE_MS);
    if (this.readyHead < this.ready.length && !this.scheduled) {
      this.scheduled = true;
      setImmediate(this.turn);
    }
  };

  private run(sliceMs: number): void {
    const deadline = performance.now() + sliceMs;
    let n = 0;
    const ready = this.ready;
    while (this.readyHead < ready.length) {
      const t = ready[this.readyHead] as FanoutTarget;
      ready[this.readyHead++] = undefined as unknown as FanoutTarget;
      const pending = t.pendingFanout;
      if (pending === 0) continue; // pulled by its own send meanwhile
      this.write(t);
      n += pending;
      if (n >= CHECK_EVERY) {
        n = 0;
        if (performance.now() > deadline) break;
      }
    }
    if (this.readyHead === ready.length) {
      ready.length = 0;
      this.readyHead = 0;
    } else if (this.readyHead > 1024 && this.readyHead * 2 > ready.length) {
      ready.splice(0, this.readyHead);
      this.readyHead = 0;
    }
  }
}
