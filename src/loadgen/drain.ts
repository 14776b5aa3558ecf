/**
 * `shardline bench drain`: what a SIGTERM does to a loaded server.
 *
 *   start the server command → wait for `ready` and a TCP accept → read its
 *   RSS (empty) → open N connections → settle, read RSS (connected) → keep K
 *   requests in flight on each (for handlerMs + margin) → the signal (SIGTERM) at T0 →
 *   tell the clients (they stop starting requests) → at the first close frame,
 *   try one new connection → wait for the exit and for every client to close.
 *
 * Replies lost: requests sent before T0 that never got a reply. Requests a
 * client sent after T0 (before it learned of the signal) and that crossed the
 * close frame are counted apart (`unansweredAfterSignal`): a server may not
 * answer after its close frame.
 */
import net from 'node:net';
import WebSocket from 'ws';
import { Groups } from './groups.js';
import { makePlan, type Plan } from './plan.js';
import { cpuMs, rssBytes } from './proc-stats.js';
import { epochNow, mergeCounts } from './protocol.js';
import { startServerCommand } from './server-proc.js';

export interface DrainOptions {
  server: string;
  connections: number;
  inflight: number;
  /** The server's handler time; exported to the command as SHARDLINE_BENCH_HANDLER_MS. */
  handlerMs: number;
  rate: number;
  threads: number;
  processes?: number | undefined;
  /** Path of the WebSocket URL. */
  path: string;
  host: string;
  env?: NodeJS.ProcessEnv;
  /** SIGKILL the server if it has not exited this long after SIGTERM. */
  exitTimeoutMs: number;
  localAddresses?: string[];
  onPlan?: (plan: Plan) => void;
  /** The signal that starts the drain (default SIGTERM). */
  signal?: NodeJS.Signals;
  /** Readiness for servers that do not print shardline's ready line (server-proc.ts). */
  readyRegex?: RegExp | undefined;
  port?: number | undefined;
}

export type NewConnectionOutcome = 'refused' | 'rejected' | 'accepted' | 'error' | 'timeout';

export interface DrainResult {
  server: string;
  signal: NodeJS.Signals;
  connections: { requested: number; opened: number; failed: number; perSec: number; openMs: number };
  inflight: number;
  handlerMs: number;
  /** Milliseconds from the SIGTERM. */
  signalToFirstCloseFrameMs: number | null;
  signalToLastCloseFrameMs: number | null;
  signalToLastClientClosedMs: number | null;
  signalToExitMs: number | null;
  requestsSent: number;
  repliesReceived: number;
  repliesLost: number;
  unansweredAfterSignal: number;
  /** How long before the signal the lost requests were sent: [newest, oldest] in ms (null when none). */
  lostSentBeforeSignalMs: [number, number] | null;
  /** The drain time the server logged itself (durationMs of its `stopped` line), when it logs one. */
  serverReportedDrainMs: number | null;
  /** The numeric fields of the server's own `stopped` log line (shardline: messagesDropped, handlersAbandoned, ...). */
  serverSummary: Record<string, number> | null;
  /** Server CPU time (user + system, all threads) from the signal to its last /proc sample before exit. */
  serverCpuDuringDrainMs: number;
  /** Event-loop utilization of the busiest client group from the signal on (0..1). */
  clientLoopUtilizationMax: number;
  closeCodes: Record<string, number>;
  /** Outcome of one new WebSocket connection tried at the first close frame. */
  newConnectionAfterSignal: NewConnectionOutcome;
  newConnectionRefused: boolean;
  exitCode: number | null;
  killed: boolean;
  /** The server's VmRSS before the clients connected and once they all had. */
  serverRss: { emptyBytes: number; connectedBytes: number; perConnectionBytes: number };
  errors: Record<string, number>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Resolves once a TCP connection to host:port is accepted (retrying for up to timeoutMs). */
export async function waitAccepting(host: string, port: number, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, host);
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`server on ${host}:${port} does not accept connections`);
    await sleep(50);
  }
}

/** One WebSocket handshake attempt; never throws. */
export function tryConnect(url: string, timeoutMs = 2_000): Promise<NewConnectionOutcome> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: timeoutMs });
    let outcome: NewConnectionOutcome | null = null;
    const settle = (o: NewConnectionOutcome): void => {
      if (outcome !== null) return;
      outcome = o;
      ws.terminate();
      resolve(o);
    };
    ws.on('open', () => settle('accepted'));
    ws.on('unexpected-response', (_req, res) => (res.resume(), settle('rejected')));
    ws.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNREFUSED') settle('refused');
      else if (/timed out/i.test(err.message)) settle('timeout');
      else settle('error');
    });
    ws.on('close', () => settle('error'));
  });
}

function serverDrainMs(logs: Record<string, unknown>[]): number | null {
  const stopped = logs.find((l) => l.msg === 'stopped');
  return typeof stopped?.durationMs === 'number' ? stopped.durationMs : null;
}

function serverSummary(logs: Record<string, unknown>[]): Record<string, number> | null {
  const stopped = logs.find((l) => l.msg === 'stopped');
  if (stopped === undefined) return null;
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(stopped)) if (typeof v === 'number' && k !== 'time' && k !== 'level' && k !== 'pid') out[k] = v;
  return out;
}

const since = (t0: number, t: number): number | null => (t > 0 ? Math.round((t - t0) * 10) / 10 : null);

export async function runDrain(opts: DrainOptions): Promise<DrainResult> {
  const env = { ...opts.env, SHARDLINE_BENCH_HANDLER_MS: String(opts.handlerMs) };
  const server = await startServerCommand(opts.server, { env, readyRegex: opts.readyRegex, port: opts.port });
  let groups: Groups | null = null;
  try {
    await waitAccepting(opts.host, server.port);
    await sleep(200);
    const emptyRss = rssBytes(server.pid);
    const url = `ws://${opts.host}:${server.port}${opts.path}`;
    const plan = makePlan({
      url,
      connections: opts.connections,
      threads: opts.threads,
      processes: opts.processes ?? 0,
      localAddresses: opts.localAddresses ?? [],
    });
    opts.onPlan?.(plan);
    groups = new Groups({ url, plan, ratePerSec: opts.rate, inflight: opts.inflight, size: 32 });
    const { errors, ...connections } = await groups.opened();
    const openedCount = connections.opened;
    await sleep(500); // let the server settle before reading its memory
    const connectedRss = rssBytes(server.pid);

    groups.broadcast({ type: 'arm', staggerMs: opts.handlerMs });
    await groups.collect('armed', 10_000 + opts.handlerMs);
    if (opts.inflight > 0) await sleep(opts.handlerMs + 300); // steady state: requests at every stage of the handler
    const firstClose = groups.first('first-close', opts.exitTimeoutMs);
    const results = groups.collect('drain-result', opts.exitTimeoutMs + 15_000);
    results.catch(() => {}); // awaited below; a rejection before then must not be unhandled

    const cpuAtSignal = cpuMs(server.pid);
    const signalAt = epochNow();
    server.child.kill(opts.signal ?? 'SIGTERM');
    groups.broadcast({ type: 'signaled', at: signalAt });
    // /proc/PID/stat disappears at the exit: keep the last sample.
    let cpuLast = cpuAtSignal;
    const cpuPoll = setInterval(() => {
      const v = cpuMs(server.pid);
      if (Number.isFinite(v)) cpuLast = v;
    }, 10);

    const newConn = (await firstClose) !== null ? await tryConnect(url) : 'timeout';
    let killed = false;
    const exitTimer = setTimeout(() => {
      killed = true;
      server.child.kill('SIGKILL');
    }, opts.exitTimeoutMs);
    const exit = await server.exited;
    clearTimeout(exitTimer);
    clearInterval(cpuPoll);
    // After the exit every socket is gone; give the clients a moment to see it, then ask.
    const askTimer = setTimeout(() => groups?.broadcast({ type: 'finish' }), 3_000);
    const reports = (await results).map((m) => m.report);
    clearTimeout(askTimer);

    const closeCodes: Record<string, number> = {};
    let first = 0;
    let lastFrame = 0;
    let lastClosed = 0;
    let sent = 0;
    let received = 0;
    let lost = 0;
    let after = 0;
    let ageMin = Infinity;
    let ageMax = 0;
    let elu = 0;
    for (const r of reports) {
      elu = Math.max(elu, r.clientLoopUtilization);
      if (r.repliesLost > 0) {
        ageMin = Math.min(ageMin, r.lostAgeMinMs);
        ageMax = Math.max(ageMax, r.lostAgeMaxMs);
      }
      mergeCounts(closeCodes, r.closeCodes);
      mergeCounts(errors, r.errors);
      if (r.firstCloseFrameAt > 0 && (first === 0 || r.firstCloseFrameAt < first)) first = r.firstCloseFrameAt;
      lastFrame = Math.max(lastFrame, r.lastCloseFrameAt);
      lastClosed = Math.max(lastClosed, r.lastClosedAt);
      sent += r.requestsSent;
      received += r.repliesReceived;
      lost += r.repliesLost;
      after += r.unansweredAfterSignal;
    }
    return {
      server: opts.server,
      signal: opts.signal ?? 'SIGTERM',
      connections,
      inflight: opts.inflight,
      handlerMs: opts.handlerMs,
      signalToFirstCloseFrameMs: since(signalAt, first),
      signalToLastCloseFrameMs: since(signalAt, lastFrame),
      signalToLastClientClosedMs: since(signalAt, lastClosed),
      signalToExitMs: since(signalAt, exit.at),
      requestsSent: sent,
      repliesReceived: received,
      repliesLost: lost,
      unansweredAfterSignal: after,
      lostSentBeforeSignalMs: lost > 0 ? [Math.round(ageMin * 10) / 10, Math.round(ageMax * 10) / 10] : null,
      serverReportedDrainMs: serverDrainMs(server.logs),
      serverSummary: serverSummary(server.logs),
      serverCpuDuringDrainMs: Math.round(cpuLast - cpuAtSignal),
      clientLoopUtilizationMax: Math.round(elu * 100) / 100,
      closeCodes,
      newConnectionAfterSignal: newConn,
      newConnectionRefused: newConn === 'refused' || newConn === 'rejected',
      exitCode: killed ? null : exit.code,
      killed,
      serverRss: {
        emptyBytes: emptyRss,
        connectedBytes: connectedRss,
        perConnectionBytes: openedCount > 0 ? Math.round((connectedRss - emptyRss) / openedCount) : 0,
      },
      errors,
    };
  } finally {
    await groups?.stop();
    await server.kill();
  }
}
