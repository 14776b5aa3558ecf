/**
 * One shard: a uWS app on the shared port (SO_REUSEPORT), its connections and
 * their write queues, wired to the app's hooks (hooks.ts), the topic registry
 * (topics.ts) and its own drain (drain.ts, which tells the drain order).
 */
import type { MessagePort, TransferListItem } from 'node:worker_threads';
import type { OffloadOptions, Payload, PublishOutcome, StreamPosition, SubscribeResult } from '../app.js';
import { loadApp } from '../app-loader.js';
import type { ResolvedConfig } from '../config.js';
import { CloseCode, ErrorCode, OffloadError, ShardlineError, closeCodeFor, toWire } from '../errors.js';
import { Phase, Slot, assertNever, type DrainReport, type FromShard, type LogLevel, type ShardInit, type ToShard } from '../protocol.js';
import { SocketConnection, type ConnectionHost, type ShardStats, type UserData } from './connection.js';
import { ShardDrain, type DrainHost } from './drain.js';
import { HookRunner, type HookHost } from './hooks.js';
import type { GateState } from './http.js';
import { watchHeap } from './heap-watch.js';
import { buildApp, listen } from './listener.js';
import { OffloadClient } from './offload-client.js';
import { TopicRegistry } from './topics.js';
import { ShardPubSub } from './pubsub.js';
import { setPublishHook } from '../broker/publish.js';
import { handleUpgrade, type UpgradeHost } from './upgrade.js';
import { loadUws, type UWS } from './uws.js';
import { ShardMeter } from '../metrics/shard-meter.js';

/** Where the standalone offload() finds the shard of the thread it runs in. */
export const OFFLOAD_HOOK = Symbol.for('shardline.offload');

/** How often the shard bumps its heartbeat slot. */
export const HEARTBEAT_MS = 250;

/** How often sockets with a queue (or waiting to end) are re-checked, in case uWS's drain event was missed. */
const POLL_MS = 25;

export class Shard implements ConnectionHost, DrainHost, HookHost, UpgradeHost {
  readonly shard: number;
  readonly node: string;
  readonly limits: { readonly maxPayloadBytes: number; readonly maxMessagesPerSecond: number };
  readonly maxQueueBytes: number;
  readonly dropNewest: boolean;
  readonly maxUnackedBytes: number;
  readonly stats: ShardStats = { messagesQueued: 0, messagesDropped: 0, messagesFlushed: 0, slowConsumerCloses: 0, handlerErrors: 0 };
  readonly connections = new Set<SocketConnection>();
  /** Metrics counters, in this thread's slot of shared memory (src/metrics/). */
  readonly meter: ShardMeter;
  readonly hooks: HookRunner = new HookRunner(this);
  /** The port every shard listens on, once known. */
  listenPort = 0;

  private readonly config: ResolvedConfig;
  /** This thread's heartbeat slot in the shared state. */
  private readonly heartbeat: number;
  /** 0 at start, +1 per SIGHUP roll. */
  private readonly generation: number;
  /** Drained by a SIGHUP roll: the node stays ready while this shard drains. */
  private rolling = false;
  private readonly shared: Int32Array;
  private readonly port: MessagePort;
  private readonly drain: ShardDrain;
  private readonly topics = new TopicRegistry({ interest: (topic, on) => this.post({ type: 'interest', shard: this.shard, topic, on }) });
  private readonly pubsub: ShardPubSub;
  private uws: typeof UWS | null = null;
  private server: UWS.TemplatedApp | null = null;
  private listenSocket: UWS.us_listen_socket | null = null;
  private readonly watched = new Set<SocketConnection>();
  private nextId = 0;
  private poll: NodeJS.Timeout | null = null;
  private readonly offloader: OffloadClient;
  private readonly allowedOrigins: Set<string> | null;
  private stopHeapWatch: () => void = () => {};
  /** The thread's real process.exit (the app's is replaced by a crash). */
  private readonly realExit: (code: number) => void;

  constructor(init: ShardInit, port: MessagePort, exitThread: (code: number) => void) {
    this.realExit = exitThread;
    this.shard = init.shard;
    this.heartbeat = init.heartbeat;
    this.generation = init.generation;
    this.config = init.config;
    this.shared = new Int32Array(init.state);
    this.meter = new ShardMeter(init.metrics);
    this.port = port;
    this.maxQueueBytes = init.config.backpressure.maxQueueBytes;
    this.dropNewest = init.config.backpressure.onOverflow === 'drop-newest';
    this.maxUnackedBytes = init.config.backpressure.maxUnackedBytes;
    this.offloader = new OffloadClient(this.shard, (msg, transfer) => this.post(msg, transfer));
    this.allowedOrigins = init.config.allowedOrigins.length > 0 ? new Set(init.config.allowedOrigins) : null;
    this.drain = new ShardDrain(this, init.config.drain);
    this.node = init.config.nodeId;
    this.limits = { maxPayloadBytes: init.config.limits.maxPayloadBytes, maxMessagesPerSecond: init.config.limits.maxMessagesPerSecond };
    this.pubsub = new ShardPubSub(
      this.shard,
      init.config,
      this.topics,
      () => this.hooks.app,
      (msg, transfer) => this.post(msg, transfer),
    );
  }

  get draining(): boolean {
    return this.drain.draining;
  }

  /** Loads uWS and the app, builds the uWS app, then waits for `listen`. */
  async start(): Promise<void> {
    this.port.on('message', (msg: ToShard) => this.onMessage(msg));
    // Proof of life for the primary: a stuck event loop stops bumping it.
    // It runs (unref'd) for the thread's whole life, drained or not.
    let beat = performance.now();
    setInterval(() => {
      Atomics.add(this.shared, Slot.HEARTBEAT + this.heartbeat, 1);
      const now = performance.now();
      this.syncMetrics(Math.max(0, now - beat - HEARTBEAT_MS) / 1000);
      beat = now;
    }, HEARTBEAT_MS).unref();
    this.stopHeapWatch = watchHeap(
      this.config.limits.shardHeapMb,
      (err) => this.crash(err),
      (used, limit) => this.meter.heap(used, limit),
    );
    // The standalone offload() of the public API finds this thread's shard here.
    (globalThis as Record<symbol, unknown>)[OFFLOAD_HOOK] = (task: string, payload: unknown, opts?: OffloadOptions) => this.offload(null, task, payload, opts);
    setPublishHook((topic, data, opts) => this.pubsub.publish(topic, data, opts.binary ?? typeof data !== 'string', opts.key));
    try {
      this.uws = loadUws().uws;
      this.hooks.app = await loadApp(this.config.app);
      this.server = buildApp(this.uws, this.config, {
        upgrade: (res, req, context) => handleUpgrade(this, this.hooks.app, res, req, context),
        open: (ws) => this.onOpen(ws),
        message: (ws, message, isBinary) => this.onWsMessage(ws, message, isBinary),
        close: (ws, code, message) => this.onClose(ws, code, message),
        readiness: () => {
          const phase = Atomics.load(this.shared, Slot.PHASE);
          return phase === Phase.READY && (!this.draining || this.rolling) ? 'ready' : phase === Phase.STARTING ? 'starting' : 'draining';
        },
      });
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
    if (this.drain.done) return;
    const wire = toWire(err);
    this.post({
      type: 'fatal',
      shard: this.shard,
      error: { code: ErrorCode.SHARD_FAILED, message: `shard ${this.shard} crashed: ${wire.message}`, stack: wire.stack },
    });
    this.drain.force();
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
        this.rolling = msg.kind === 'roll';
        this.drain.begin({ code: msg.closeCode, reason: msg.closeReason }, msg.spreadMs);
        break;
      case 'unlisten':
        // A SIGHUP roll: the new generation listens; this shard serves its open sockets on.
        this.closeListenSocket();
        break;
      case 'force':
        this.drain.force();
        break;
      case 'publish':
        this.pubsub.deliver(msg);
        break;
      case 'broker-reply':
        this.pubsub.onPublishReply(msg);
        break;
      case 'history-reply':
        this.pubsub.onHistoryReply(msg);
        break;
      case 'resync':
        this.pubsub.resync(msg.topic);
        break;
      case 'init':
        throw new Error('this should not happen: shard got a second init');
      default:
        assertNever(msg, `shard ${this.shard}`);
    }
  }

  // ---- uWS app -------------------------------------------------------------

  private listen(port: number): void {
    if (this.draining || this.server === null || this.uws === null) return;
    listen(
      this.uws,
      this.server,
      this.config.host,
      port,
      (result) => {
        if (result instanceof ShardlineError) return this.fatal(result);
        this.listenSocket = result.token;
        this.listenPort = result.port;
        this.poll = setInterval(() => this.pollWatched(), POLL_MS).unref();
        this.post({ type: 'listening', shard: this.shard, port: result.port });
      },
      this.shard,
    );
  }

  gate(): GateState {
    return {
      draining: this.draining,
      allowedOrigins: this.allowedOrigins,
      connections: Atomics.load(this.shared, Slot.CONNECTIONS),
      maxConnections: this.config.limits.maxConnections,
    };
  }

  private onOpen(ws: UWS.WebSocket<UserData>): void {
    const ud = ws.getUserData();
    // Generation 0 keeps the `<shard>.<n>` ids; a roll's shards add their generation so ids stay unique.
    const id = this.generation === 0 ? `${this.shard}.${++this.nextId}` : `${this.shard}.${this.generation}.${++this.nextId}`;
    const conn = new SocketConnection(this, ws, id, ud.data);
    ud.conn = conn;
    this.connections.add(conn);
    Atomics.add(this.shared, Slot.CONNECTIONS, 1);
    this.meter.opened(this.connections.size);
    const hook = this.hooks.app.open;
    if (hook !== undefined) this.hooks.run(conn, 'open', () => hook(conn));
    if (this.draining) this.drain.adopt(conn);
  }

  private onWsMessage(ws: UWS.WebSocket<UserData>, message: ArrayBuffer, isBinary: boolean): void {
    const conn = ws.getUserData().conn;
    const hook = this.hooks.app.message;
    if (conn === null) return;
    this.meter.received(message.byteLength);
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
    this.hooks.run(conn, 'message', () => hook(conn, data, isBinary));
  }

  private onClose(ws: UWS.WebSocket<UserData>, code: number, message: ArrayBuffer): void {
    const conn = ws.getUserData().conn;
    if (conn === null) return;
    this.connections.delete(conn);
    Atomics.sub(this.shared, Slot.CONNECTIONS, 1);
    this.meter.closed(conn.sentClose, code, this.connections.size);
    conn.onClosed();
    const hook = this.hooks.app.close;
    if (hook !== undefined) {
      const reason = Buffer.from(message).toString('utf8');
      this.hooks.run(null, 'close', () => hook(conn, code, reason));
    }
    this.drain.onClosed();
  }

  // ---- HookHost, DrainHost -------------------------------------------------

  settled(kind: 'hook' | 'offload'): void {
    this.drain.onSettled(kind);
  }

  closeListenSocket(): void {
    if (this.listenSocket !== null && this.uws !== null) {
      this.uws.us_listen_socket_close(this.listenSocket);
      this.listenSocket = null; // a second close must be a no-op
    }
  }

  abandonOffload(): number {
    return this.offloader.abandonAll();
  }

  report(report: DrainReport): void {
    this.offloader.stopped = true;
    this.pubsub.abandonAll();
    if (this.poll !== null) clearInterval(this.poll);
    this.stopHeapWatch();
    if (report.stopHook === 'failed') this.meter.hookFailed('stop');
    this.syncMetrics(0); // the final counts, before the primary retires this thread's slot
    // The heartbeat goes on (it is unref'd): a drained thread that app handles
    // keep alive is not a stuck one.
    this.post({ type: 'drained', shard: this.shard, report });
    // The thread now exits by itself once uWS has closed its last socket; the
    // drain's teardown watch ends it if app handles keep it alive.
    this.port.unref();
  }

  exitThread(): void {
    this.port.close();
    this.realExit(0);
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

  /** Each heartbeat (and before the drain report): the counters kept for the report, the queue gauge, the loop's lag. */
  private syncMetrics(lagSeconds: number): void {
    let queued = 0;
    for (const conn of this.watched) queued += conn.bufferedBytes;
    this.meter.sync(this.stats, queued, lagSeconds);
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
    if (conn?.closeSent) {
      return Promise.reject(new OffloadError(ErrorCode.OFFLOAD_SHUTTING_DOWN, 'the socket is closing'));
    }
    const result = this.offloader.run(task, payload, opts);
    this.hooks.track(conn);
    // Settled one macrotask later, so that the app's own continuation (which
    // sends the reply) runs before the socket may be ended by the drain.
    const settled = (): void => {
      setImmediate(() => this.hooks.done(conn, 'offload'));
    };
    result.then(settled, settled);
    return result;
  }

  pullFanout(conn: SocketConnection): void {
    this.topics.pull(conn);
  }

  subscribe(conn: SocketConnection, topic: string, since: StreamPosition | undefined): Promise<SubscribeResult> {
    return this.pubsub.subscribe(conn, topic, since);
  }

  unsubscribe(conn: SocketConnection, topic: string): void {
    this.topics.unsubscribe(conn, topic);
  }

  publish(topic: string, data: Payload, isBinary: boolean, key: string | undefined): Promise<PublishOutcome> {
    return this.pubsub.publish(topic, data, isBinary, key);
  }
}
