/**
 * The echo load of one group, in one of two models:
 *
 * - open (`ratePerSec` > 0): message i is due at start + i / rate, whatever the
 *   server does; each is sent to the next open connection in turn, and its
 *   latency runs from that intended time (wrk2's correction for coordinated
 *   omission: a stall charges every message scheduled during it). A send that
 *   leaves more than LATE_MS after its time is counted as late: the client
 *   could not keep its schedule.
 * - closed (`ratePerSec` = 0): `inflight` messages per connection, the next
 *   sent when a reply comes. A saturation-throughput test; its latency hides
 *   stalls, since nothing is sent while the server is stuck.
 *
 *   |-- warm-up (not recorded) --|-- measured window --|-- tail: replies awaited --| close 1000
 */
import * as hdr from 'hdr-histogram-js';
import type { EchoConn } from './group.js';
import { epochNow, type FromGroup, type LoadReport, type LoadSpec } from './protocol.js';
import { SelfMeter } from './self-meter.js';

/** A send this late behind its schedule is counted as late (ms). */
export const LATE_MS = 10;
/** Sends in one go before the pump yields to the event loop. */
const MAX_BATCH = 200;
/** After sending stops, how long outstanding replies are awaited (ms). */
const TAIL_MS = 2_000;
/** Latency above this (µs) is clamped: 60 s. */
export const MAX_LATENCY_US = 60_000_000;

export const newHistogram = (): hdr.Histogram =>
  hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: MAX_LATENCY_US, numberOfSignificantValueDigits: 3 });

export interface LoadHost {
  readonly group: number;
  readonly conns: EchoConn[];
  readonly inflight: number;
  /** Sends one message intended at `at` on conn; false when the socket is not open. */
  send(conn: EchoConn, at: number): boolean;
  post(msg: FromGroup): void;
  /** Closes every connection with 1000 and resolves when they are closed. */
  closeAll(): Promise<void>;
  snapshot(): { closeCodes: Record<string, number>; errors: Record<string, number> };
}

export class EchoLoad {
  private readonly histogram = newHistogram();
  private readonly tickHistogram = newHistogram();
  private readonly start = epochNow();
  private readonly measureFrom: number;
  private readonly stopAt: number;
  private readonly budget: number;
  private meter: SelfMeter | null = null;
  private sending = true;
  private interrupted = false;
  private next = 0;
  private rr = 0;
  private sent = 0;
  private received = 0;
  private late = 0;
  private maxLagMs = 0;
  private lastAt = 0;
  private tick = { sent: 0, received: 0, late: 0, second: 0 };
  private readonly timers: NodeJS.Timeout[] = [];
  private pumpTimer: NodeJS.Timeout | undefined;
  private pumpImmediate: NodeJS.Immediate | undefined;
  private finished: ((r: LoadReport) => void) | null = null;
  private tailDone: (() => void) | null = null;

  constructor(
    private readonly host: LoadHost,
    private readonly spec: LoadSpec,
  ) {
    this.measureFrom = this.start + spec.warmupMs;
    this.stopAt = this.measureFrom + spec.durationMs;
    this.budget = spec.messages > 0 ? spec.messages : Infinity;
  }

  run(): Promise<LoadReport> {
    const done = new Promise<LoadReport>((resolve) => (this.finished = resolve));
    this.timers.push(setTimeout(() => this.beginMeasuring(), this.spec.warmupMs));
    this.timers.push(setTimeout(() => this.stopSending(), this.stopAt - this.start));
    if (this.spec.ratePerSec > 0) this.pump();
    else for (let k = 0; k < this.host.inflight; k++) for (const conn of this.host.conns) this.sendClosed(conn);
    return done;
  }

  private beginMeasuring(): void {
    this.meter = new SelfMeter();
    if (this.spec.ticks) this.timers.push(setInterval(() => this.postTick(), 1_000));
  }

  private measured(at: number): boolean {
    return at >= this.measureFrom;
  }

  /** Open model: sends everything due by now, then sleeps until the next one is due (timers fire at >= 1 ms). */
  private pump(): void {
    const interval = 1000 / this.spec.ratePerSec;
    const now = epochNow();
    for (let batch = 0; this.sending; batch++) {
      const at = this.start + this.next * interval;
      if (at > now) break;
      // Behind schedule: yield between batches so that replies are still read
      // (one long burst would delay them, and every latency with them).
      if (batch === MAX_BATCH) {
        this.pumpImmediate = setImmediate(() => this.pump());
        return;
      }
      if (at >= this.stopAt || this.sent >= this.budget) return this.stopSending();
      const conn = this.nextOpen();
      if (conn === null) return this.stopSending();
      this.host.send(conn, at);
      this.next++;
      if (this.measured(at)) {
        const lag = now - at;
        this.sent++;
        this.tick.sent++;
        if (lag > LATE_MS) this.late++, this.tick.late++;
        if (lag > this.maxLagMs) this.maxLagMs = lag;
      }
    }
    if (this.sending) this.pumpTimer = setTimeout(() => this.pump(), Math.max(0, this.start + this.next * interval - epochNow()));
  }

  private nextOpen(): EchoConn | null {
    const conns = this.host.conns;
    for (let tried = 0; tried < conns.length; tried++) {
      const conn = conns[this.rr++ % conns.length] as EchoConn;
      if (conn.ws.readyState === 1) return conn;
    }
    return null;
  }

  private sendClosed(conn: EchoConn): void {
    const now = epochNow();
    if (!this.sending) return;
    if (now >= this.stopAt || this.sent >= this.budget) return this.stopSending();
    if (!this.host.send(conn, now)) return;
    if (this.measured(now)) this.sent++, this.tick.sent++;
  }

  /** A reply to a message intended at `at`. */
  onReply(conn: EchoConn, at: number): void {
    const now = epochNow();
    if (this.measured(at)) {
      const us = Math.min(MAX_LATENCY_US, Math.max(1, Math.round((now - at) * 1000)));
      this.histogram.recordValue(us);
      this.tickHistogram.recordValue(us);
      this.received++;
      this.tick.received++;
      this.lastAt = now;
    }
    if (this.spec.ratePerSec === 0) this.sendClosed(conn);
    if (!this.sending && this.outstanding() === 0) this.tailDone?.();
  }

  /** A connection closed: with none left there is nothing to wait for. */
  onClosed(): void {
    if (this.host.conns.every((c) => c.ws.readyState !== 1)) {
      this.stopSending();
      this.tailDone?.();
    }
  }

  private outstanding(): number {
    let n = 0;
    for (const c of this.host.conns) n += c.pending.size;
    return n;
  }

  private postTick(): void {
    this.tick.second++;
    this.host.post({
      type: 'tick',
      group: this.host.group,
      report: {
        second: this.tick.second,
        sent: this.tick.sent,
        received: this.tick.received,
        late: this.tick.late,
        histogram: hdr.encodeIntoCompressedBase64(this.tickHistogram),
        loopUtilization: this.meter?.utilization() ?? 0,
        open: this.host.conns.filter((c) => c.ws.readyState === 1).length,
      },
    });
    this.tickHistogram.reset();
    this.tick = { sent: 0, received: 0, late: 0, second: this.tick.second };
  }

  /** The user interrupted: no tail, close now. */
  interrupt(): void {
    this.interrupted = true;
    this.stopSending();
    this.tailDone?.();
  }

  private stopSending(): void {
    if (!this.sending) return;
    this.sending = false;
    void this.finish();
  }

  private async finish(): Promise<void> {
    if (!this.interrupted && this.outstanding() > 0) {
      await new Promise<void>((resolve) => {
        this.tailDone = resolve;
        this.timers.push(setTimeout(resolve, TAIL_MS));
      });
    }
    for (const t of this.timers) clearTimeout(t);
    clearTimeout(this.pumpTimer);
    clearImmediate(this.pumpImmediate);
    const client = (this.meter ?? new SelfMeter()).stop();
    let unanswered = 0;
    for (const c of this.host.conns) for (const at of c.pending.values()) if (this.measured(at)) unanswered++;
    await this.host.closeAll();
    const { closeCodes, errors } = this.host.snapshot();
    this.finished?.({
      sent: this.sent,
      received: this.received,
      late: this.late,
      maxLagMs: Math.round(this.maxLagMs * 10) / 10,
      unanswered,
      otherFrames: 0,
      startedAt: this.measureFrom,
      endedAt: Math.max(this.lastAt, Math.min(epochNow(), this.stopAt)),
      histogram: hdr.encodeIntoCompressedBase64(this.histogram),
      client,
      interrupted: this.interrupted,
      closeCodes,
      errors,
    });
  }
}
