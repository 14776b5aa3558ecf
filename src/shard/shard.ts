/**
 * One shard: a uWS app on the shared port (SO_REUSEPORT), its connections,
 * their write queues, the app's hooks, and its own drain.
 *
 * Drain, in order (the primary sends `drain` after drain.delayMs):
 *   1. close the listen socket (new TCP connections are refused) and refuse upgrades;
 *   2. mark every socket to close with drain.closeCode once its in-flight hooks
 *      have settled and its queue is flushed; messages that arrive before that
 *      close frame is sent are still handled (and so delay it);
 *   3. once no socket and no hook is left, await the app's stop() hook;
 *   4. report to the primary and close the port. The thread then exits by
 *      itself once uWS has finished the TCP teardown of every socket: that
 *      natural exit is the primary's "fully drained" signal.
 * `force` (deadline or second signal) closes what is left without close frames,
 * gives stop() a short grace, and reports.
 */
import { getHeapStatistics } from 'node:v8';
import type { MessagePort, TransferListItem } from 'node:worker_threads';
import type { App, OffloadOptions, Payload } from '../app.js';
import { loadApp } from '../app-loader.js';
import type { ResolvedConfig } from '../config.js';
import { CloseCode, ErrorCode, OffloadError, ShardlineError, closeCodeFor, toWire, truncateReason } from '../errors.js';
import { addRoutes, checkUpgrade, copyRequest, reject, Rejections } from './http.js';
import { OffloadClient } from './offload-client.js';
import { holdsConnections } from '../proc-net.js';
import {
  Phase,
  Slot,
  assertNever,
  type DrainReport,
  type FromShard,
  type LogLevel,
  type PublishPayload,
  type ShardInit,
  type ToShard,
} from '../protocol.js';
import { SocketConnection, UWS_MAX_BACKPRESSURE, type ConnectionHost, type ShardStats, type UserData } from './connection.js';
import { Fanout } from './fanout.js';
import { loadUws, type UWS } from './uws.js';

/** Where the standalone offload() finds the shard of the thread it runs in. */
export const OFFLOAD_HOOK = Symbol.for('shardline.offload');

/**
 * uWS v20.30 answers a message over its maxPayloadLength, and invalid UTF-8,
 * by dropping the TCP connection with no close frame (the client sees 1006).
 * So uWS gets a larger hard cap and shardline enforces limits.maxPayloadBytes
 * itself with a proper 1009: every message up to twice the limit gets the
 * right close code; only a frame beyond that is cut by uWS as before.
 */
function uwsPayloadCap(limit: number): number {
  return Math.min(2 ** 31 - 1, limit * 2 + 1024);
}

/** How often a drained thread that something keeps alive checks whether it may end itself. */
const TEARDOWN_CHECK_MS = 250;

/** Sockets ended per event-loop turn during a drain. */
const DRAIN_BATCH = 512;

/** Heap watchdog: sample period, and the share of the heap limit that counts as high. */
const HEAP_CHECK_MS = 50;
const HEAP_HIGH = 0.85;

/** How often the shard bumps its heartbeat slot. */
export const HEARTBEAT_MS = 250;

/** How often sockets with a queue (or waiting to end) are re-checked, in case uWS's drain event was missed. */
const POLL_MS = 25;
/** After a forced drain, how long the stop() hook may still run before the shard reports anyway. */
const FORCED_STOP_GRACE_MS = 1000;

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v !== null && (typeof v === 'object' || typeof v === 'function') && typeof (v as PromiseLike<unknown>).then === 'function';
}

function errorFields(err: unknown): Record<string, unknown> {
  return err instanceof Error ? { err: { type: err.name, message: err.message, stack: err.stack } } : { err: String(err) };
}

export class Shard implements ConnectionHost {
  readonly shard: number;
  readonly maxQueueBytes: number;
  readonly dropNewest: boolean;
  readonly maxUnackedBytes: number;
  readonly stats: ShardStats = { messagesQueued: 0, messagesDropped: 0, messagesFlushed: 0, slowConsumerCloses: 0, handlerErrors: 0 };
  draining = false;

  private readonly config: ResolvedConfig;
  private readonly shared: Int32Array;
  private readonly port: MessagePort;
  private app: App = {};
  private uws: typeof UWS | null = null;
  private server: UWS.TemplatedApp | null = null;
  private listenSocket: UWS.us_listen_socket | null = null;

  private readonly connections = new Set<SocketConnection>();
  private readonly watched = new Set<SocketConnection>();
  private readonly topics = new Map<string, Set<SocketConnection>>();
  private readonly fanout = new Fanout();
  private nextId = 0;
  /** Hooks in flight on this shard (all kinds). */
  private inflight = 0;
  private poll: NodeJS.Timeout | null = null;

  private drainStartedAt = 0;
  /** Time spent in the drain's end() batches: the shard's own cost of closing its sockets. */
  private endLoopMs = 0;
  private forced = false;
  private stopping: Promise<DrainReport['stopHook']> | null = null;
  private reported = false;
  /** Set once the drain stopped waiting for barrier pongs (drain.barrierMs), or never waits (0). */
  private barrierExpired = false;
  private readonly drainCounts = {
    connectionsClosed: 0,
    connectionsForced: 0,
    handlersAwaited: 0,
    handlersAbandoned: 0,
    offloadAwaited: 0,
    offloadAbandoned: 0,
    barrierTimeouts: 0,
  };
  private readonly offloader: OffloadClient;
  private readonly allowedOrigins: Set<string> | null;
  private heapWatch: NodeJS.Timeout | null = null;
  private heapHighSamples = 0;

  /** The thread's real process.exit (the app's is replaced by a crash). */
  private readonly exitThread: (code: number) => void;
  /** The port every shard listens on, once known. */
  private listenPort = 0;
  private teardownWatch: NodeJS.Timeout | null = null;

  constructor(init: ShardInit, port: MessagePort, exitThread: (code: number) => void) {
    this.exitThread = exitThread;
    this.shard = init.shard;
    this.config = init.config;
    this.shared = new Int32Array(init.state);
    this.port = port;
    this.maxQueueBytes = init.config.backpressure.maxQueueBytes;
    this.dropNewest = init.config.backpressure.onOverflow === 'drop-newest';
    this.maxUnackedBytes = init.config.backpressure.maxUnackedBytes;
    this.offloader = new OffloadClient(this.shard, (msg, transfer) => this.post(msg, transfer));
    this.allowedOrigins = init.config.allowedOrigins.length > 0 ? new Set(init.config.allowedOrigins) : null;
  }

  /** Loads uWS and the app, builds the uWS app, then waits for `listen`. */
  async start(): Promise<void> {
    this.port.on('message', (msg: ToShard) => this.onMessage(msg));
    // Proof of life for the primary: a stuck event loop stops bumping it.
    // It runs (unref'd) for the thread's whole life, drained or not.
    setInterval(() => Atomics.add(this.shared, Slot.HEARTBEAT + this.shard, 1), HEARTBEAT_MS).unref();
    this.heapWatch = setInterval(() => this.checkHeap(), HEAP_CHECK_MS).unref();
    // The standalone offload() of the public API finds this thread's shard here.
    (globalThis as Record<symbol, unknown>)[OFFLOAD_HOOK] = (task: string, payload: unknown, opts?: OffloadOptions) =>
      this.offload(null, task, payload, opts);
    try {
      this.uws = loadUws().uws;
      this.app = await loadApp(this.config.app);
      this.server = this.build(this.uws);
    } catch (err) {
      this.fatal(err);
      return;
    }
    this.post({ type: 'loaded', shard: this.shard });
  }

  private post(msg: FromShard, transfer?: readonly TransferListItem[]): void {
    this.port.postMessage(msg, transfer);
  }

  log(level: LogLevel, msg: string, fields: Record<string, unknown> = {}): void {
    this.post({ type: 'log', shard: this.shard, level, msg, fields });
  }

  private fatal(err: unknown): void {
    this.post({ type: 'fatal', shard: this.shard, error: toWire(err) });
    this.port.close();
  }

  /**
   * An exception escaped the app (a timer, an un-awaited promise): the shard's
   * state is unknown, so it stops serving. It must still close its own sockets
   * and listen socket, because a thread that dies with uWS handles open aborts
   * the whole process.
   */
  crash(err: unknown): void {
    if (this.reported) return;
    const wire = toWire(err);
    this.post({
      type: 'fatal',
      shard: this.shard,
      error: { code: ErrorCode.SHARD_FAILED, message: `shard ${this.shard} crashed: ${wire.message}`, stack: wire.stack },
    });
    this.force();
  }

  /**
   * V8 ends a thread that runs out of heap from outside, and with uWS handles
   * open that aborts the whole process. So a shard whose heap stays above
   * HEAP_HIGH of its limit for two samples in a row (garbage alone rarely
   * survives that) crashes itself first: it closes its sockets and is replaced.
   */
  private checkHeap(): void {
    const { used_heap_size: used, heap_size_limit: total } = getHeapStatistics();
    // heap_size_limit also counts the young generation: the configured old-space cap is the one V8 enforces.
    const configured = this.config.limits.shardHeapMb * 1024 * 1024;
    const limit = configured > 0 ? Math.min(configured, total) : total;
    this.heapHighSamples = used > limit * HEAP_HIGH ? this.heapHighSamples + 1 : 0;
    if (this.heapHighSamples < 2) return;
    const mb = (n: number): number => Math.round(n / 1024 / 1024);
    this.crash(new Error(`heap at ${mb(used)} of ${mb(limit)} MiB: stopping this shard before it runs out of memory`));
  }

  private onMessage(msg: ToShard): void {
    switch (msg.type) {
      case 'listen':
        this.offloader.tasks = msg.tasks === null ? null : new Set(msg.tasks);
        this.listen(msg.port);
        break;
      case 'offload-result':
        this.offloader.settle(msg.id, msg);
        break;
      case 'drain':
        this.beginDrain();
        break;
      case 'force':
        this.force();
        break;
      case 'publish':
        this.deliver(msg.topic, msg.payload, msg.binary);
        break;
      case 'init':
        throw new Error('this should not happen: shard got a second init');
      default:
        assertNever(msg, `shard ${this.shard}`);
    }
  }

  // ---- uWS app -------------------------------------------------------------

  private build(uws: typeof UWS): UWS.TemplatedApp {
    const cfg = this.config;
    const server = uws.App();
    server.ws<UserData>('/*', {
      compression: uws.DISABLED,
      maxPayloadLength: uwsPayloadCap(cfg.limits.maxPayloadBytes),
      idleTimeout: cfg.idleTimeoutSec,
      maxBackpressure: UWS_MAX_BACKPRESSURE,
      closeOnBackpressureLimit: 0, // never: the write queue decides (typed as a number in this build)
      sendPingsAutomatically: true,
      upgrade: (res, req, context) => this.onUpgrade(res, req, context),
      open: (ws) => this.onOpen(ws),
      message: (ws, message, isBinary) => this.onWsMessage(ws, message, isBinary),
      drain: (ws) => ws.getUserData().conn?.flush(),
      pong: (ws, message) => ws.getUserData().conn?.onPong(message),
      close: (ws, code, message) => this.onClose(ws, code, message),
    });
    addRoutes(server, () => {
      const phase = Atomics.load(this.shared, Slot.PHASE);
      return phase === Phase.READY && !this.draining ? 'ready' : phase === Phase.STARTING ? 'starting' : 'draining';
    });
    return server;
  }

  private listen(port: number): void {
    if (this.draining || this.server === null || this.uws === null) return;
    const uws = this.uws;
    const server = this.server;
    const failed = (p: number): void =>
      this.fatal(new ShardlineError(ErrorCode.LISTEN_FAILED, `shard ${this.shard} cannot listen on ${this.config.host}:${p} (in use, or not an address of this host)`));
    const localPort = (token: UWS.us_listen_socket): number => uws.us_socket_local_port(token as unknown as UWS.us_socket);
    const listening = (token: UWS.us_listen_socket): void => {
      this.listenSocket = token;
      this.listenPort = localPort(token);
      this.poll = setInterval(() => this.pollWatched(), POLL_MS).unref();
      this.post({ type: 'listening', shard: this.shard, port: localPort(token) });
    };
    server.listen(this.config.host, port, (token) => {
      if (token === false) return failed(port);
      if (port !== 0) return listening(token);
      // uSockets sets SO_REUSEPORT only for a non-zero port: let the kernel pick
      // one, then bind it again for real so the other shards can share it.
      const picked = localPort(token);
      uws.us_listen_socket_close(token);
      server.listen(this.config.host, picked, (again) => (again === false ? failed(picked) : listening(again)));
    });
  }

  private onUpgrade(res: UWS.HttpResponse, req: UWS.HttpRequest, context: UWS.us_socket_context_t): void {
    const rejection = checkUpgrade(req, {
      draining: this.draining,
      allowedOrigins: this.allowedOrigins,
      connections: Atomics.load(this.shared, Slot.CONNECTIONS),
      maxConnections: this.config.limits.maxConnections,
    });
    if (rejection !== null) return reject(res, rejection);
    const key = req.getHeader('sec-websocket-key');
    const protocol = req.getHeader('sec-websocket-protocol');
    const extensions = req.getHeader('sec-websocket-extensions');
    const hook = this.app.upgrade;
    if (hook === undefined) {
      res.upgrade<UserData>({ data: undefined, conn: null }, key, protocol, extensions, context);
      return;
    }
    const request = copyRequest(req, res);
    const finish = (result: unknown): void => {
      if (this.draining) reject(res, Rejections.draining);
      else if (result === false) reject(res, Rejections.unauthorized);
      else res.upgrade<UserData>({ data: result, conn: null }, key, protocol, extensions, context);
    };
    const failed = (err: unknown): void => {
      this.log('error', 'upgrade hook failed', errorFields(err));
      reject(res, Rejections.internal);
    };
    let result: unknown;
    try {
      result = hook(request);
    } catch (err) {
      failed(err);
      return;
    }
    if (!isThenable(result)) {
      finish(result);
      return;
    }
    // Async upgrade: the response must be watched for abort and corked when we answer.
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    this.inflight++;
    result.then(
      (value) => {
        if (!aborted) res.cork(() => finish(value));
        this.hookSettled(null);
      },
      (err: unknown) => {
        if (!aborted) res.cork(() => failed(err));
        this.hookSettled(null);
      },
    );
  }

  private onOpen(ws: UWS.WebSocket<UserData>): void {
    const ud = ws.getUserData();
    const conn = new SocketConnection(this, ws, `${this.shard}.${++this.nextId}`, ud.data);
    ud.conn = conn;
    this.connections.add(conn);
    Atomics.add(this.shared, Slot.CONNECTIONS, 1);
    const hook = this.app.open;
    if (hook !== undefined) this.run(conn, 'open', () => hook(conn));
    if (this.draining) conn.startDrain(this.drainCloseFrame(), !this.barrierExpired);
  }

  private onWsMessage(ws: UWS.WebSocket<UserData>, message: ArrayBuffer, isBinary: boolean): void {
    const conn = ws.getUserData().conn;
    const hook = this.app.message;
    if (conn === null) return;
    if (message.byteLength > this.config.limits.maxPayloadBytes) {
      conn.hardEnd(CloseCode.MESSAGE_TOO_BIG, 'message too big');
      return;
    }
    const rate = this.config.limits.maxMessagesPerSecond;
    if (rate > 0 && !conn.withinRate(rate)) {
      this.log('warn', 'message rate exceeded', { conn: conn.id, closeCode: CloseCode.POLICY_VIOLATION, limit: rate });
      conn.hardEnd(CloseCode.POLICY_VIOLATION, 'message rate exceeded');
      return;
    }
    if (hook === undefined) return;
    // uWS neuters `message` when this callback returns: the hook gets its own copy.
    const data = Buffer.from(new Uint8Array(message));
    this.run(conn, 'message', () => hook(conn, data, isBinary));
  }

  private onClose(ws: UWS.WebSocket<UserData>, code: number, message: ArrayBuffer): void {
    const conn = ws.getUserData().conn;
    if (conn === null) return;
    this.connections.delete(conn);
    Atomics.sub(this.shared, Slot.CONNECTIONS, 1);
    conn.onClosed();
    if (this.draining) this.drainCounts.connectionsClosed++;
    const hook = this.app.close;
    if (hook !== undefined) {
      const reason = Buffer.from(message).toString('utf8');
      this.run(null, 'close', () => hook(conn, code, reason));
    }
    this.checkDrained();
  }

  /** Runs a hook; an async one is tracked as in flight for its socket and the shard. */
  private run(conn: SocketConnection | null, name: string, call: () => unknown): void {
    let result: unknown;
    try {
      result = call();
    } catch (err) {
      this.hookFailed(conn, name, err);
      return;
    }
    if (!isThenable(result)) return;
    this.inflight++;
    if (conn !== null) conn.inflight++;
    result.then(
      () => this.hookSettled(conn),
      (err: unknown) => {
        this.hookFailed(conn, name, err);
        this.hookSettled(conn);
      },
    );
  }

  private hookSettled(conn: SocketConnection | null): void {
    this.inflight--;
    if (this.draining && !this.forced) this.drainCounts.handlersAwaited++;
    conn?.hookDone();
    this.checkDrained();
  }

  /** A hook threw: only its own socket is closed (1011); the details go to the server log, never to the client. */
  private hookFailed(conn: SocketConnection | null, name: string, err: unknown): void {
    this.stats.handlerErrors++;
    this.log('error', `${name} hook failed`, { conn: conn?.id, code: ErrorCode.HANDLER_FAILED, ...errorFields(err) });
    conn?.end(closeCodeFor[ErrorCode.HANDLER_FAILED], 'internal error');
  }

  // ---- write queues and pub/sub (ConnectionHost) ----------------------------

  watch(conn: SocketConnection): void {
    this.watched.add(conn);
  }

  unwatch(conn: SocketConnection): void {
    this.watched.delete(conn);
  }

  private pollWatched(): void {
    for (const conn of this.watched) conn.flush();
  }

  slowConsumer(conn: SocketConnection, queuedBytes: number): void {
    this.stats.slowConsumerCloses++;
    this.log('warn', 'slow consumer closed', {
      conn: conn.id,
      code: ErrorCode.SLOW_CONSUMER,
      closeCode: closeCodeFor[ErrorCode.SLOW_CONSUMER],
      queuedBytes,
    });
  }

  offload(conn: SocketConnection | null, task: string, payload: unknown, opts?: OffloadOptions): Promise<unknown> {
    if (conn !== null && conn.closeSent) {
      return Promise.reject(new OffloadError(ErrorCode.OFFLOAD_SHUTTING_DOWN, 'the socket is closing'));
    }
    const result = this.offloader.run(task, payload, opts);
    this.inflight++;
    if (conn !== null) conn.inflight++;
    // Settled one macrotask later, so that the app's own continuation (which
    // sends the reply) runs before the socket may be ended by the drain.
    const settled = (): void => {
      setImmediate(() => {
        this.inflight--;
        if (this.draining && !this.forced) this.drainCounts.offloadAwaited++;
        conn?.hookDone();
        this.checkDrained();
      });
    };
    result.then(settled, settled);
    return result;
  }

  pullFanout(conn: SocketConnection): void {
    this.fanout.pull(conn);
  }

  subscribe(conn: SocketConnection, topic: string): void {
    let subs = this.topics.get(topic);
    if (subs === undefined) this.topics.set(topic, (subs = new Set()));
    subs.add(conn);
  }

  unsubscribe(conn: SocketConnection, topic: string): void {
    const subs = this.topics.get(topic);
    if (subs === undefined) return;
    subs.delete(conn);
    if (subs.size === 0) this.topics.delete(topic);
  }

  /** Local subscribers at once; other shards through the primary (one FIFO port each way keeps order). */
  publish(topic: string, data: Payload, isBinary: boolean): void {
    this.deliver(topic, data, isBinary);
    if (this.config.shards < 2) return;
    if (typeof data === 'string') {
      this.post({ type: 'publish', shard: this.shard, topic, payload: data, binary: isBinary });
      return;
    }
    // Copy into a buffer of its own and transfer it: the caller may reuse its bytes.
    const view = data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const copy = view.slice();
    this.post({ type: 'publish', shard: this.shard, topic, payload: copy, binary: isBinary }, [copy.buffer]);
  }

  private deliver(topic: string, payload: PublishPayload | Payload, isBinary: boolean): void {
    const subs = this.topics.get(topic);
    if (subs === undefined) return;
    // uWS.js converts a string to UTF-8 on every send: do it once for the whole fan-out.
    this.fanout.publish(subs, typeof payload === 'string' && subs.size > 1 ? Buffer.from(payload) : payload, isBinary);
  }

  // ---- drain ---------------------------------------------------------------

  private drainCloseFrame(): { code: number; reason: string } {
    return { code: this.config.drain.closeCode, reason: truncateReason(this.config.drain.closeReason) };
  }

  private closeListenSocket(): void {
    if (this.listenSocket !== null && this.uws !== null) {
      this.uws.us_listen_socket_close(this.listenSocket);
      this.listenSocket = null; // a second close must be a no-op
    }
  }

  private beginDrain(): void {
    if (this.draining) return;
    this.draining = true;
    this.drainStartedAt = performance.now();
    this.closeListenSocket();
    const frame = this.drainCloseFrame();
    const all = [...this.connections];
    for (const conn of all) conn.drainClose = frame;
    const barrierMs = this.config.drain.barrierMs;
    if (barrierMs === 0) this.barrierExpired = true;
    // Each socket gets the barrier ping (SocketConnection.startDrain) and is
    // ended when its pong is back; sockets are taken in batches, one per turn
    // of the event loop, to spread the work. A client that has not answered
    // within drain.barrierMs (not reading, or far away) is ended without it.
    // With barrierMs 0 there is no ping: sockets are ended at once.
    const pass = (from: number): void => {
      if (this.forced) return;
      const t0 = performance.now();
      const to = Math.min(all.length, from + DRAIN_BATCH);
      for (let i = from; i < to; i++) (all[i] as SocketConnection).startDrain(frame, !this.barrierExpired);
      this.endLoopMs += performance.now() - t0;
      if (to < all.length) {
        setImmediate(pass, to);
        return;
      }
      if (barrierMs === 0) {
        this.checkDrained();
        return;
      }
      setTimeout(() => {
        this.barrierExpired = true;
        for (const conn of [...this.connections]) {
          if (conn.awaitingBarrier) this.drainCounts.barrierTimeouts++;
          conn.passBarrier();
        }
        this.checkDrained();
      }, barrierMs).unref();
      this.checkDrained();
    };
    setImmediate(pass, 0);
  }

  private checkDrained(): void {
    if (!this.draining || this.forced || this.stopping !== null) return;
    if (this.connections.size > 0 || this.inflight > 0) return;
    this.stopping = this.runStop();
    void this.stopping.then((stopHook) => this.report(stopHook));
  }

  private async runStop(): Promise<DrainReport['stopHook']> {
    const hook = this.app.stop;
    if (hook === undefined) return 'none';
    try {
      await hook();
      return 'ok';
    } catch (err) {
      this.log('error', 'stop hook failed', errorFields(err));
      return 'failed';
    }
  }

  /** Deadline or second signal: close what is left at once, then report. */
  private force(): void {
    if (this.forced || this.reported) return;
    if (!this.draining) {
      this.draining = true;
      this.drainStartedAt = performance.now();
    }
    this.forced = true;
    this.closeListenSocket();
    this.drainCounts.offloadAbandoned = this.offloader.abandonAll();
    this.drainCounts.handlersAbandoned = this.inflight - this.drainCounts.offloadAbandoned;
    for (const conn of [...this.connections]) {
      this.drainCounts.connectionsForced++;
      conn.abort(); // ws.close(): uWS calls onClose synchronously
    }
    this.stopping ??= this.runStop();
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<DrainReport['stopHook']>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), FORCED_STOP_GRACE_MS);
    });
    void Promise.race([this.stopping, grace]).then((stopHook) => {
      clearTimeout(timer);
      this.report(stopHook);
    });
  }

  private report(stopHook: DrainReport['stopHook']): void {
    if (this.reported) return;
    this.reported = true;
    this.offloader.stopped = true;
    if (this.poll !== null) clearInterval(this.poll);
    if (this.heapWatch !== null) clearInterval(this.heapWatch);
    // The heartbeat goes on (it is unref'd): a drained thread that app handles
    // keep alive is not a stuck one.
    const report: DrainReport = {
      shard: this.shard,
      ...this.drainCounts,
      messagesQueued: this.stats.messagesQueued,
      messagesFlushed: this.stats.messagesFlushed,
      messagesDropped: this.stats.messagesDropped,
      slowConsumerCloses: this.stats.slowConsumerCloses,
      stopHook,
      forced: this.forced,
      endLoopMs: Math.round(this.endLoopMs),
      durationMs: Math.round(performance.now() - this.drainStartedAt),
    };
    this.post({ type: 'drained', shard: this.shard, report });
    // The thread now exits by itself once uWS has closed its last socket,
    // unless app handles keep it alive: then it ends itself as soon as that is
    // safe. Neither the port nor that watch keeps the loop alive on its own.
    this.port.unref();
    this.teardownWatch = setInterval(() => this.exitIfOnlyAppHandlesRemain(), TEARDOWN_CHECK_MS).unref();
  }

  private exitIfOnlyAppHandlesRemain(): void {
    // Nothing of Node's keeps the loop alive (our own timers and port are
    // unref'd): only uWS's closing sockets do, and the thread will exit by
    // itself. Only app handles make the costlier /proc check worth it.
    const held = process.getActiveResourcesInfo();
    if (held.length === 0) return;
    if (this.listenPort !== 0 && holdsConnections(this.listenPort)) return;
    if (this.teardownWatch !== null) clearInterval(this.teardownWatch);
    this.log('warn', 'app handles (timers, sockets) kept the drained shard alive: ending its thread; clear them in the stop() hook', {
      activeResources: held,
    });
    this.port.close();
    this.exitThread(0);
  }
}
