/**
 * One client group: opens its share of the connections at a bounded rate, then
 * either runs echo load or holds requests in flight through a server drain.
 * Runs inside a worker thread or a forked child process (see group-entry.ts);
 * it only sees `ToGroup` messages and answers with `FromGroup` ones.
 *
 * Each connection keeps a FIFO of the send times of its outstanding requests:
 * the server echoes in order, so a reply always answers the oldest one.
 */
import * as hdr from 'hdr-histogram-js';
import type { EventLoopUtilization } from 'node:perf_hooks';
import WebSocket from 'ws';
import { bump, epochNow, type DrainGroupReport, type FromGroup, type GroupSpec, type LoadReport, type OpenReport } from './protocol.js';

/** Latency above this (µs) is clamped: 60 s. */
const MAX_LATENCY_US = 60_000_000;
/** After the load stops, how long outstanding replies are awaited. */
const LOAD_TAIL_MS = 2_000;
/** Pacing tick for opening connections. */
const OPEN_TICK_MS = 10;

interface Conn {
  ws: WebSocket;
  /** Send times (epoch ms) of requests without a reply yet, oldest first. */
  pending: number[];
  closeFrameAt: number;
  closedAt: number;
  code: number;
}

function errorKey(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown };
  return typeof e.code === 'string' ? e.code : String(e.message ?? err);
}

export class ClientGroup {
  private readonly conns: Conn[] = [];
  private readonly errors: Record<string, number> = {};
  private readonly closeCodes: Record<string, number> = {};
  private readonly payload: Buffer;
  private mode: 'idle' | 'load' | 'drain' = 'idle';
  private signalAt = 0;
  private eluAtSignal: EventLoopUtilization | null = null;
  private signaled = false;
  private firstCloseFrameAt = 0;
  /** `first-close` is posted once: at the first close frame, or the first close without one (1006). */
  private firstClosePosted = false;
  private lastCloseFrameAt = 0;
  private lastClosedAt = 0;
  private open = 0;
  private sent = 0;
  private received = 0;
  private budget = Infinity;
  private stopAt = Infinity;
  private loadStartedAt = 0;
  private lastReplyAt = 0;
  private readonly histogram = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: MAX_LATENCY_US, numberOfSignificantValueDigits: 3 });
  private loadDone: (() => void) | null = null;
  private reported = false;

  constructor(
    private readonly spec: GroupSpec,
    private readonly post: (msg: FromGroup) => void,
  ) {
    this.payload = Buffer.alloc(spec.size, 0x61);
  }

  /** Opens every connection, `ratePerSec` attempts a second and at most `maxPending` at once. */
  openAll(): Promise<OpenReport> {
    const { connections, ratePerSec, maxPending } = this.spec;
    const perTick = Math.max(1, Math.round((ratePerSec * OPEN_TICK_MS) / 1000));
    const startedAt = epochNow();
    let started = 0;
    let pendingCount = 0;
    let failed = 0;
    let lastOpenAt = startedAt;
    return new Promise((resolve) => {
      const settle = (): void => {
        if (started === connections && pendingCount === 0) {
          clearInterval(timer);
          resolve({ opened: this.open, failed, errors: { ...this.errors }, startedAt, lastOpenAt });
        }
      };
      const tick = (): void => {
        for (let i = 0; i < perTick && started < connections && pendingCount < maxPending; i++) {
          started++;
          pendingCount++;
          this.connect((ok) => {
            pendingCount--;
            if (ok) lastOpenAt = epochNow();
            else failed++;
            settle();
          });
        }
        settle();
      };
      const timer = setInterval(tick, OPEN_TICK_MS);
      tick();
    });
  }

  private connect(done: (ok: boolean) => void): void {
    const ws = new WebSocket(this.spec.url, {
      perMessageDeflate: false,
      handshakeTimeout: this.spec.connectTimeoutMs,
      ...(this.spec.localAddress !== undefined ? { localAddress: this.spec.localAddress } : {}),
    });
    const conn: Conn = { ws, pending: [], closeFrameAt: 0, closedAt: 0, code: 0 };
    let opened = false;
    ws.binaryType = 'nodebuffer';
    ws.on('error', (err) => bump(this.errors, errorKey(err)));
    ws.on('open', () => {
      opened = true;
      this.open++;
      this.conns.push(conn);
      // ws has no public event for the close frame itself ('close' waits for the
      // TCP close); its receiver emits 'conclude' when the frame is parsed.
      const receiver = (ws as unknown as { _receiver?: { on(e: 'conclude', f: () => void): void } })._receiver;
      receiver?.on('conclude', () => this.onCloseFrame(conn));
      done(true);
    });
    ws.on('message', () => this.onReply(conn));
    ws.on('close', (code) => {
      if (!opened) return done(false);
      this.onClosed(conn, code);
    });
  }

  private onCloseFrame(conn: Conn): void {
    if (conn.closeFrameAt !== 0) return;
    const at = epochNow();
    conn.closeFrameAt = at;
    this.lastCloseFrameAt = at;
    if (this.firstCloseFrameAt === 0) this.firstCloseFrameAt = at;
    this.postFirstClose(at);
  }

  private postFirstClose(at: number): void {
    if (this.firstClosePosted) return;
    this.firstClosePosted = true;
    this.post({ type: 'first-close', group: this.spec.group, at });
  }

  private onClosed(conn: Conn, code: number): void {
    const at = epochNow();
    if (conn.closeFrameAt === 0 && code !== 1006) this.onCloseFrame(conn);
    this.postFirstClose(at);
    conn.closedAt = at;
    conn.code = code;
    this.lastClosedAt = at;
    this.open--;
    bump(this.closeCodes, code);
    if (this.mode === 'drain' && this.open === 0) this.reportDrain();
    if (this.mode === 'load' && this.open === 0) this.loadDone?.();
  }

  private sendOne(conn: Conn): void {
    if (conn.ws.readyState !== WebSocket.OPEN) return;
    conn.pending.push(epochNow());
    this.sent++;
    conn.ws.send(this.payload, { binary: true }, (err) => {
      if (err) bump(this.errors, errorKey(err));
    });
  }

  private onReply(conn: Conn): void {
    const sentAt = conn.pending.shift();
    if (sentAt === undefined) return; // not an answer to one of ours
    const now = epochNow();
    this.received++;
    if (this.mode === 'load') {
      this.lastReplyAt = now;
      this.histogram.recordValue(Math.min(MAX_LATENCY_US, Math.max(1, Math.round((now - sentAt) * 1000))));
      if (now < this.stopAt && this.sent < this.budget) this.sendOne(conn);
      else if (this.sent === this.received) this.loadDone?.();
    } else if (this.mode === 'drain' && !this.signaled) {
      this.sendOne(conn);
    }
  }

  // ---- echo load ---------------------------------------------------------

  async load(durationMs: number, messages: number): Promise<LoadReport> {
    this.mode = 'load';
    this.loadStartedAt = epochNow();
    this.stopAt = this.loadStartedAt + durationMs;
    this.budget = messages > 0 ? messages : Infinity;
    const finished = new Promise<void>((resolve) => (this.loadDone = resolve));
    for (let k = 0; k < this.spec.inflight; k++) {
      for (const conn of this.conns) if (this.sent < this.budget) this.sendOne(conn);
    }
    // Replies after stopAt are still awaited, for at most LOAD_TAIL_MS.
    const deadline = new Promise<void>((resolve) => setTimeout(resolve, durationMs + LOAD_TAIL_MS).unref());
    if (this.sent > 0 && this.open > 0) await Promise.race([finished, deadline]);
    return {
      sent: this.sent,
      received: this.received,
      startedAt: this.loadStartedAt,
      endedAt: this.lastReplyAt || this.loadStartedAt,
      histogram: hdr.encodeIntoCompressedBase64(this.histogram),
      closeCodes: { ...this.closeCodes },
      errors: { ...this.errors },
    };
  }

  // ---- drain -------------------------------------------------------------

  /** Starts the drain traffic; resolves once every first request is sent. */
  async arm(staggerMs: number): Promise<void> {
    this.mode = 'drain';
    const n = this.conns.length * this.spec.inflight;
    if (n === 0) return;
    let i = 0;
    const started = performance.now();
    // Send in slices every few ms, each request at its share of staggerMs.
    while (i < n) {
      const due = staggerMs > 0 ? Math.min(n, Math.floor(((performance.now() - started) / staggerMs) * n) + 1) : n;
      for (; i < due; i++) this.sendOne(this.conns[i % this.conns.length] as Conn);
      if (i < n) await new Promise((resolve) => setTimeout(resolve, 2));
    }
  }

  signal(at: number): void {
    this.eluAtSignal = performance.eventLoopUtilization();
    this.signalAt = at;
    this.signaled = true;
  }

  /** Posts the drain report once (when every connection closed, or when asked). */
  reportDrain(): void {
    if (this.reported) return;
    this.reported = true;
    let lost = 0;
    let after = 0;
    let stillOpen = 0;
    let ageMin = Infinity;
    let ageMax = 0;
    for (const conn of this.conns) {
      if (conn.closedAt === 0) {
        stillOpen++;
        bump(this.closeCodes, 'open');
      }
      for (const at of conn.pending) {
        if (this.signalAt !== 0 && at >= this.signalAt) {
          after++;
        } else {
          lost++;
          const age = this.signalAt - at;
          ageMin = Math.min(ageMin, age);
          ageMax = Math.max(ageMax, age);
        }
      }
    }
    const report: DrainGroupReport = {
      connections: this.conns.length,
      requestsSent: this.sent,
      repliesReceived: this.received,
      repliesLost: lost,
      unansweredAfterSignal: after,
      lostAgeMinMs: lost > 0 ? ageMin : 0,
      lostAgeMaxMs: ageMax,
      closeCodes: { ...this.closeCodes },
      firstCloseFrameAt: this.firstCloseFrameAt,
      lastCloseFrameAt: this.lastCloseFrameAt,
      lastClosedAt: this.lastClosedAt,
      stillOpen,
      clientLoopUtilization: this.eluAtSignal === null ? 0 : performance.eventLoopUtilization(this.eluAtSignal).utilization,
      errors: { ...this.errors },
    };
    this.post({ type: 'drain-result', group: this.spec.group, report });
  }

  terminateAll(): void {
    for (const conn of this.conns) conn.ws.terminate();
  }
}
