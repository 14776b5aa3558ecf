/**
 * A shard's drain, in order (the primary sends `drain` after drain.delayMs at
 * a shutdown, with drain.closeCode; or to an old shard of a SIGHUP roll, with
 * 1012; the message carries the close frame and the spread window):
 *   1. close the listen socket (new TCP connections are refused) and refuse
 *      upgrades (the gate reads `draining`);
 *   2. ping every socket (the barrier: its pong means every request the client
 *      sent before it has been read), in batches of DRAIN_BATCH per turn of the
 *      event loop, or the i-th of n sockets at i/n of the spread window
 *      (close-spread.ts); mark each to close with drain.closeCode once its pong is
 *      back (or drain.barrierMs passed), its in-flight hooks have settled and
 *      its write queue is flushed. Messages that arrive before that close frame
 *      is sent are still handled (and so delay it);
 *   3. once no socket and no hook is left, await the app's stop() hook;
 *   4. report to the primary. The thread then exits by itself once uWS has
 *      finished the TCP teardown of every socket: that natural exit is the
 *      primary's "fully drained" signal. If app handles (a timer, a client)
 *      keep it alive, it ends itself once the process holds no connection on
 *      the port any more.
 * `force` (deadline or second signal) closes what is left without close
 * frames, gives stop() a short grace, and reports.
 */
import type { DrainReport, LogLevel } from '../protocol.js';
import { holdsConnections } from '../proc-net.js';
import { truncateReason } from '../errors.js';
import type { SocketConnection, ShardStats } from './connection.js';
import { errorFields, type HookRunner } from './hooks.js';
import { spreadOver, type SpreadRun } from './close-spread.js';

/** Sockets ended per event-loop turn during a drain. */
const DRAIN_BATCH = 512;
/** After a forced drain, how long the stop() hook may still run before the shard reports anyway. */
const FORCED_STOP_GRACE_MS = 1000;
/** How often a drained thread that something keeps alive checks whether it may end itself. */
const TEARDOWN_CHECK_MS = 250;

export interface DrainSettings {
  closeCode: number;
  closeReason: string;
  /** How long a close frame waits for the barrier pong; 0 = no barrier ping. */
  barrierMs: number;
}

export interface DrainHost {
  readonly shard: number;
  readonly connections: ReadonlySet<SocketConnection>;
  readonly hooks: HookRunner;
  readonly stats: ShardStats;
  /** The port the shard listened on (0 if it never did): the teardown watch checks it. */
  readonly listenPort: number;
  closeListenSocket(): void;
  /** Rejects every pending offloaded task; returns how many there were. */
  abandonOffload(): number;
  log(level: LogLevel, msg: string, fields?: Record<string, unknown>): void;
  /** Posts the report; the shard stops its own timers and unrefs its port. */
  report(report: DrainReport): void;
  /** Ends the thread now (only once nothing of uWS is left to tear down). */
  exitThread(): void;
}

export class ShardDrain {
  draining = false;
  forced = false;
  /** Set once the drain stopped waiting for barrier pongs (drain.barrierMs), or never waits (0). */
  barrierExpired = false;
  private startedAt = 0;
  /** Time spent in the drain's end() batches: the shard's own cost of closing its sockets. */
  private endLoopMs = 0;
  private stopping: Promise<DrainReport['stopHook']> | null = null;
  private reported = false;
  private teardownWatch: NodeJS.Timeout | null = null;
  /** The close frame of this drain (from the drain message); the config's until then. */
  private frame: { code: number; reason: string } | null = null;
  private spread: SpreadRun | null = null;
  private readonly counts = {
    connectionsClosed: 0,
    connectionsForced: 0,
    handlersAwaited: 0,
    handlersAbandoned: 0,
    offloadAwaited: 0,
    offloadAbandoned: 0,
    barrierTimeouts: 0,
  };

  constructor(
    private readonly host: DrainHost,
    private readonly settings: DrainSettings,
  ) {}

  get done(): boolean {
    return this.reported;
  }

  /** The close frame every socket gets. */
  closeFrame(): { code: number; reason: string } {
    return this.frame ?? { code: this.settings.closeCode, reason: truncateReason(this.settings.closeReason) };
  }

  /** A socket opened while draining (its upgrade was already under way): it drains too. */
  adopt(conn: SocketConnection): void {
    conn.startDrain(this.closeFrame(), !this.barrierExpired);
  }

  onClosed(): void {
    if (this.draining) this.counts.connectionsClosed++;
    this.check();
  }

  /** A hook or an offloaded task settled. */
  onSettled(kind: 'hook' | 'offload'): void {
    if (this.draining && !this.forced) this.counts[kind === 'hook' ? 'handlersAwaited' : 'offloadAwaited']++;
    this.check();
  }

  /** `frame.reason` is already formatted (src/close-reason.ts); `spreadMs` 0 = as fast as the loop allows. */
  begin(frame: { code: number; reason: string }, spreadMs: number): void {
    if (this.draining) return;
    this.draining = true;
    this.startedAt = performance.now();
    this.frame = frame;
    this.host.closeListenSocket();
    const all = [...this.host.connections];
    for (const conn of all) conn.drainClose = frame;
    const { barrierMs } = this.settings;
    if (barrierMs === 0) this.barrierExpired = true;
    // Each socket gets the barrier ping (SocketConnection.startDrain) and is
    // ended when its pong is back; sockets are taken in batches, one per turn
    // of the event loop, or spread over spreadMs. A client that has not
    // answered within barrierMs of the last socket's start (not reading, or
    // far away) is ended without it.
    const start = (from: number, to: number): void => {
      const t0 = performance.now();
      for (let i = from; i < to; i++) (all[i] as SocketConnection).startDrain(frame, !this.barrierExpired);
      this.endLoopMs += performance.now() - t0;
    };
    const started = (): void => {
      if (this.forced) return;
      if (barrierMs > 0) setTimeout(() => this.expireBarrier(), barrierMs).unref();
      this.check();
    };
    this.spread = spreadOver(all.length, spreadMs, DRAIN_BATCH, start, started);
  }

  private expireBarrier(): void {
    this.barrierExpired = true;
    for (const conn of [...this.host.connections]) {
      if (conn.awaitingBarrier) this.counts.barrierTimeouts++;
      conn.passBarrier();
    }
    this.check();
  }

  /** Step 3: nothing left but the stop() hook. */
  check(): void {
    if (!this.draining || this.forced || this.stopping !== null) return;
    if (this.host.connections.size > 0 || this.host.hooks.inflight > 0) return;
    this.stopping = this.runStop();
    void this.stopping.then((stopHook) => this.finish(stopHook));
  }

  private async runStop(): Promise<DrainReport['stopHook']> {
    const hook = this.host.hooks.app.stop;
    if (hook === undefined) return 'none';
    try {
      await hook();
      return 'ok';
    } catch (err) {
      this.host.log('error', 'stop hook failed', errorFields(err));
      return 'failed';
    }
  }

  /** Deadline, second signal or a crash: close what is left at once, then report. */
  force(): void {
    if (this.forced || this.reported) return;
    if (!this.draining) {
      this.draining = true;
      this.startedAt = performance.now();
    }
    this.forced = true;
    this.spread?.cancel();
    this.host.closeListenSocket();
    this.counts.offloadAbandoned = this.host.abandonOffload();
    this.counts.handlersAbandoned = this.host.hooks.inflight - this.counts.offloadAbandoned;
    for (const conn of [...this.host.connections]) {
      this.counts.connectionsForced++;
      conn.abort(); // ws.close(): uWS calls onClose synchronously
    }
    this.stopping ??= this.runStop();
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<DrainReport['stopHook']>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), FORCED_STOP_GRACE_MS);
    });
    void Promise.race([this.stopping, grace]).then((stopHook) => {
      clearTimeout(timer);
      this.finish(stopHook);
    });
  }

  /** Step 4. */
  private finish(stopHook: DrainReport['stopHook']): void {
    if (this.reported) return;
    this.reported = true;
    const { stats } = this.host;
    this.host.report({
      shard: this.host.shard,
      ...this.counts,
      messagesQueued: stats.messagesQueued,
      messagesFlushed: stats.messagesFlushed,
      messagesDropped: stats.messagesDropped,
      slowConsumerCloses: stats.slowConsumerCloses,
      stopHook,
      forced: this.forced,
      endLoopMs: Math.round(this.endLoopMs),
      durationMs: Math.round(performance.now() - this.startedAt),
    });
    this.teardownWatch = setInterval(() => this.exitIfOnlyAppHandlesRemain(), TEARDOWN_CHECK_MS).unref();
  }

  private exitIfOnlyAppHandlesRemain(): void {
    // Nothing of Node's keeps the loop alive (our own timers and port are
    // unref'd): only uWS's closing sockets do, and the thread will exit by
    // itself. Only app handles make the costlier /proc check worth it.
    const held = process.getActiveResourcesInfo();
    if (held.length === 0) return;
    const port = this.host.listenPort;
    if (port !== 0 && holdsConnections(port)) return;
    if (this.teardownWatch !== null) clearInterval(this.teardownWatch);
    this.host.log('warn', 'app handles (timers, sockets) kept the drained shard alive: ending its thread; clear them in the stop() hook', {
      activeResources: held,
    });
    this.host.exitThread();
  }
}
