/**
 * One client group of echo connections: opens its share of the connections,
 * then either runs echo load (echo-load.ts) or holds requests in flight
 * through a server drain. Runs inside a worker thread or a forked child
 * process (see group-entry.ts); it only sees `ToGroup` messages and answers
 * with `FromGroup` ones.
 *
 * Every message carries its sequence number (payload.ts); a reply is matched
 * to its request by that number, and any other frame is counted and ignored.
 */
import type { EventLoopUtilization } from 'node:perf_hooks';
import WebSocket from 'ws';
import { closeAll, Connector } from './connector.js';
import { EchoLoad } from './echo-load.js';
import { decodeEchoSeq, encodeEcho } from './payload.js';
import { bump, epochNow, type DrainGroupReport, type FromGroup, type GroupSpec, type LoadReport, type LoadSpec, type OpenReport } from './protocol.js';

/** Closing every connection at the end of a load: how long the close handshakes may take. */
const CLOSE_TIMEOUT_MS = 2_000;

export interface EchoConn {
  ws: WebSocket;
  /** Outstanding requests: sequence number -> intended send time (epoch ms). */
  pending: Map<number, number>;
  nextSeq: number;
  closeFrameAt: number;
  closedAt: number;
}

export class ClientGroup {
  readonly conns: EchoConn[] = [];
  private readonly byWs = new Map<WebSocket, EchoConn>();
  private readonly errors: Record<string, number> = {};
  private readonly closeCodes: Record<string, number> = {};
  private readonly connector: Connector;
  private mode: 'idle' | 'load' | 'drain' = 'idle';
  private loadRun: EchoLoad | null = null;
  private stopped = false;
  private otherFrames = 0;
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
  private reported = false;

  constructor(
    private readonly spec: GroupSpec,
    private readonly postMsg: (msg: FromGroup) => void,
  ) {
    this.connector = new Connector(spec, this.errors);
  }

  get group(): number {
    return this.spec.group;
  }

  get inflight(): number {
    return this.spec.inflight;
  }

  post(msg: FromGroup): void {
    this.postMsg(msg);
  }

  openAll(): Promise<OpenReport> {
    return this.connector.openAll(
      (ws) => this.onOpen(ws),
      (ws, code) => {
        const conn = this.byWs.get(ws);
        if (conn !== undefined) this.onClosed(conn, code);
      },
    );
  }

  private onOpen(ws: WebSocket): void {
    const conn: EchoConn = { ws, pending: new Map(), nextSeq: 0, closeFrameAt: 0, closedAt: 0 };
    this.open++;
    this.conns.push(conn);
    this.byWs.set(ws, conn);
    // ws has no public event for the close frame itself ('close' waits for the
    // TCP close); its receiver emits 'conclude' when the frame is parsed.
    const receiver = (ws as unknown as { _receiver?: { on(e: 'conclude', f: () => void): void } })._receiver;
    receiver?.on('conclude', () => this.onCloseFrame(conn));
    ws.on('message', (data: Buffer) => this.onFrame(conn, data));
  }

  /** Sends one request intended at `at` (epoch ms); false when the socket is not open. */
  send(conn: EchoConn, at: number): boolean {
    if (conn.ws.readyState !== WebSocket.OPEN) return false;
    const seq = conn.nextSeq++;
    conn.pending.set(seq, at);
    this.sent++;
    // No per-message callback (a closure per send): write errors surface as the socket's 'error' and close.
    conn.ws.send(encodeEcho(this.spec.size, seq, at), { binary: true });
    return true;
  }

  private onFrame(conn: EchoConn, data: Buffer): void {
    const seq = decodeEchoSeq(data);
    const at = seq < 0 ? undefined : conn.pending.get(seq);
    if (at === undefined) {
      this.otherFrames++; // not the reply to one of ours: a push, a duplicate, a hello
      return;
    }
    conn.pending.delete(seq);
    this.received++;
    if (this.mode === 'load') this.loadRun?.onReply(conn, at);
    else if (this.mode === 'drain' && !this.signaled) this.send(conn, epochNow());
  }

  private onCloseFrame(conn: EchoConn): void {
    if (conn.closeFrameAt !== 0) return;
    const at = epochNow();
    conn.closeFrameAt = at;
    this.lastCloseFrameAt = at;
    if (this.firstCloseFrameAt === 0) this.firstCloseFrameAt = at;
    this.postFirstClose(at);
  }

  private postFirstClose(at: number): void {
    if (this.firstClosePosted || this.mode !== 'drain') return;
    this.firstClosePosted = true;
    this.post({ type: 'first-close', group: this.spec.group, at });
  }

  private onClosed(conn: EchoConn, code: number): void {
    const at = epochNow();
    if (conn.closeFrameAt === 0 && code !== 1006) this.onCloseFrame(conn);
    this.postFirstClose(at);
    conn.closedAt = at;
    this.lastClosedAt = at;
    this.open--;
    bump(this.closeCodes, code);
    if (this.mode === 'drain' && this.open === 0) this.reportDrain();
    if (this.mode === 'load') this.loadRun?.onClosed();
  }

  // ---- echo load ---------------------------------------------------------

  async load(spec: LoadSpec): Promise<LoadReport> {
    this.mode = 'load';
    this.loadRun = new EchoLoad(this, spec);
    const done = this.loadRun.run();
    // Interrupted while connecting: the run ends at once (its timers cleared), closing with 1000.
    if (this.stopped) this.loadRun.interrupt();
    const report = await done;
    return { ...report, otherFrames: this.otherFrames };
  }

  closeAll(): Promise<void> {
    return closeAll(
      this.conns.map((c) => c.ws),
      1000,
      CLOSE_TIMEOUT_MS,
    );
  }

  snapshot(): { closeCodes: Record<string, number>; errors: Record<string, number> } {
    return { closeCodes: { ...this.closeCodes }, errors: { ...this.errors } };
  }

  /** The user interrupted the run: stop opening, stop sending; the load closes with 1000 and reports. */
  stop(): void {
    this.stopped = true;
    this.connector.stop();
    this.loadRun?.interrupt();
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
      for (; i < due; i++) this.send(this.conns[i % this.conns.length] as EchoConn, epochNow());
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
      for (const at of conn.pending.values()) {
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
