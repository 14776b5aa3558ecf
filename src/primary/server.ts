/**
 * The primary thread: starts the shard threads, routes cross-shard publishes,
 * and coordinates the drain. It holds no sockets itself.
 *
 * Start: spawn every shard (each loads uWS and the app) → when all are loaded,
 * shard 0 listens (with port 0 it picks the port) → the others listen on the
 * same port (SO_REUSEPORT) → phase READY, `ready` log line.
 *
 * Drain (first signal, or drain()):
 *   1. phase DRAINING at once: every shard's /readyz answers 503;
 *   2. after drain.delayMs, `drain` to every shard (listeners close, sockets
 *      are flushed and closed with drain.closeCode, stop() hooks run);
 *   3. drain.timeoutMs after that, or at a second signal, `force`: shards
 *      hard-close what is left and report;
 *   4. when every shard thread has exited by itself, the summary is logged
 *      and `closed` resolves with the exit code. Threads are never
 *      terminate()d: with uWS handles open that aborts the whole process.
 *
 * Reload (SIGHUP, reload()): a rolling restart onto a new generation of
 * shards, run by src/primary/reload.ts. `shards[id]` is always the current
 * thread of shard `id`; `live` holds every thread not yet exited, of any
 * generation (a drain or a force reaches them all).
 */
import { receiveMessageOnPort, type TransferListItem } from 'node:worker_threads';
import { formatCloseReason } from '../close-reason.js';
import { closeHandshakeSec, type ResolvedConfig } from '../config.js';
import { foreignListeners } from '../proc-net.js';
import { ErrorCode, exitCodeFor, toWire, type WireError } from '../errors.js';
import { Phase, Slot, assertNever, heartbeatSlots, sharedStateBytes, type DrainReport, type FromShard, type ToShard } from '../protocol.js';
import { OffloadPool } from '../offload/pool.js';
import type { PublishResult } from '../broker/broker.js';
import { Fleet } from './fleet.js';
import { MetricsListener } from '../metrics/listener.js';
import { PrimaryMetrics } from '../metrics/primary-metrics.js';
import type { Logger } from './logger.js';
import { Reloader, keepGeneratedNodeId, type ReloadResult, type ReloadState } from './reload.js';
import { startPrimaryHealth, type HealthListener } from './health-http.js';
import { totals } from './reports.js';
import { startShardThread, type ShardSlot } from './shard-slot.js';
import { SlotPool } from './slots.js';
import { HeartbeatMonitor, RestartPolicy } from './supervision.js';

/** A shard whose heartbeat has not moved for this long is reported stuck. */
const HUNG_AFTER_MS = 5_000;
const HEARTBEAT_CHECK_MS = 500;

/**
 * After a forced drain, how long shard threads may take to exit. uWS keeps an
 * ended socket until the peer's FIN or its end() timeout (4 to 16 s depending
 * on idleTimeout, checked on a 4 s tick: up to 20 s), so this sits above that.
 * Past it the process kills itself (exit 137): the only way out that cannot
 * abort or hang.
 */
const FORCED_EXIT_GRACE_MS = 25_000;

export interface ShutdownSummary {
  /** 0 clean drain; 1 forced (deadline, second signal) or a shard failed; 2 bad config or app. */
  exitCode: number;
  reason: string;
  forced: boolean;
  durationMs: number;
  reports: DrainReport[];
  error?: WireError | undefined;
  /** What the broker did at the end: outstanding publishes flushed, failed, abandoned. */
  broker?: Record<string, unknown> | undefined;
}

export interface ServerOptions {
  logger: Logger;
  /** Re-reads the config for a reload (SIGHUP); without it a reload re-uses the running config (and re-imports the app). */
  loadConfig?: () => ResolvedConfig;
}

export class ShardlineServer {
  /** The running config: replaced by a successful reload. */
  config: ResolvedConfig;
  /** The port every shard listens on (known once `ready` resolves). */
  port = 0;
  /** The primary's health listener port (health.port; 0 when off). */
  healthPort = 0;
  readonly ready: Promise<{ port: number }>;
  readonly closed: Promise<ShutdownSummary>;
  /** The process's metrics registry (served on metrics.port when set); other primary code adds series here. */
  readonly metrics: PrimaryMetrics;
  /** The metrics listener's port (known once `ready` resolves); 0 when off. */
  metricsPort = 0;
  private readonly metricsListener: MetricsListener | null;

  private readonly log: Logger;
  private readonly state: SharedArrayBuffer;
  private readonly shared: Int32Array;
  /** The current thread of each shard number. */
  private readonly shards: ShardSlot[] = [];
  /** Every shard thread not yet exited, of any generation. */
  private readonly live = new Set<ShardSlot>();
  /** Reports of the final drain (shards retired by an earlier roll reported in its `reloaded` line). */
  private readonly drainReports: DrainReport[] = [];
  private readonly heartbeatPool: SlotPool;
  private readonly reloader: Reloader;
  private readonly loadConfig: () => ResolvedConfig;
  private readonly health: Promise<HealthListener | null>;
  private resolveReady!: (v: { port: number }) => void;
  private rejectReady!: (err: WireError) => void;
  private resolveClosed!: (s: ShutdownSummary) => void;

  private draining = false;
  private finishing = false;
  private forced = false;
  private reason = '';
  private error: WireError | undefined;
  private drainStartedAt = 0;
  private delayTimer: NodeJS.Timeout | undefined;
  private deadlineTimer: NodeJS.Timeout | undefined;
  private exitTimer: NodeJS.Timeout | undefined;
  private readonly pool: OffloadPool | null;
  private readonly restarts = new RestartPolicy();
  private readonly restartTimers = new Map<number, NodeJS.Timeout>();
  private readonly heartbeats: HeartbeatMonitor;
  private readonly heartbeatTimer: NodeJS.Timeout;
  /** Offload task names, once the pool has imported the tasks module (null: offloading is off). */
  private tasks: string[] | null = null;
  private tasksLoaded: Promise<void>;
  /** The node's broker, its routing, the publish API. */
  private readonly fleet: Fleet;

  constructor(config: ResolvedConfig, opts: ServerOptions) {
    this.config = config;
    this.log = opts.logger;
    this.loadConfig = opts.loadConfig ?? (() => this.config);
    this.heartbeatPool = new SlotPool(heartbeatSlots(config.shards));
    this.reloader = new Reloader({
      log: this.log,
      config: () => this.config,
      loadConfig: () => keepGeneratedNodeId(this.loadConfig(), this.config),
      current: () => this.shards,
      freeSlots: () => this.heartbeatPool.available,
      spawn: (id, cfg, generation) => this.spawn(id, cfg, generation, 'incoming'),
      send: (slot, msg) => this.send(slot, msg),
      listenMessage: () => ({ type: 'listen', port: this.port, tasks: this.tasks }),
      commit: (cfg, incoming) => this.commitRoll(cfg, incoming),
      pidFile: () => this.config.pidFile,
      reloaded: (ok) => this.metrics.reloaded(ok),
    });
    this.state = new SharedArrayBuffer(sharedStateBytes(config.shards));
    this.shared = new Int32Array(this.state);
    this.ready = new Promise((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    this.ready.catch(() => {}); // callers that only await `closed` must not see an unhandled rejection
    this.closed = new Promise((resolve) => {
      this.resolveClosed = resolve;
    });
    Atomics.store(this.shared, Slot.PHASE, Phase.STARTING);
    this.log.info({ shards: config.shards, port: config.port, host: config.host, app: config.app ?? 'built-in' }, 'starting');
    const handshakeMs = closeHandshakeSec(config.idleTimeoutSec) * 1000;
    if (handshakeMs > config.drain.timeoutMs) {
      this.log.warn(
        { idleTimeoutSec: config.idleTimeoutSec, closeHandshakeMs: handshakeMs, drainTimeoutMs: config.drain.timeoutMs },
        'a client that vanished can hold the exit past drain.timeoutMs: uWS waits closeHandshakeMs for its close reply (an idleTimeoutSec of 31 or less makes it 8 s or less)',
      );
    }
    const { module, ...offload } = config.offload;
    this.pool = module === null ? null : new OffloadPool({ module, ...offload });
    this.tasksLoaded =
      this.pool === null
        ? Promise.resolve()
        : this.pool.listTasks().then(
            (names) => {
              this.tasks = names;
              this.log.info({ module, tasks: names, threads: offload.threads }, 'offload pool ready');
            },
            (err: unknown) => {
              const wire = toWire(err);
              this.log.error({ code: wire.code }, wire.message);
              this.fail(wire);
            },
          );
    this.fleet = new Fleet(
      config,
      this.log,
      {
        // The broker host keys shard threads by their heartbeat slot: unique
        // among live threads, while a roll runs two threads of one shard number.
        broadcast: (msg) => {
          for (const slot of this.live) this.send(slot, msg);
        },
        send: (key, msg) => {
          for (const slot of this.live) if (slot.heartbeat === key) this.send(slot, msg);
        },
      },
      (err) => this.fail(err),
      () => this.ready,
    );
    this.metrics = new PrimaryMetrics({
      enabled: config.metrics.port !== 0,
      source: {
        phase: () => Atomics.load(this.shared, Slot.PHASE),
        drainStartedAt: () => this.drainStartedAt,
        heartbeatAges: () => this.heartbeatAges(),
        offload: () => (this.pool === null ? null : { pending: this.pool.pending, threads: offload.threads }),
        maxConnections: config.limits.maxConnections,
        shards: config.shards,
      },
    });
    this.metricsListener = config.metrics.port === 0 ? null : new MetricsListener(this.metrics);
    // Shards start listening once the tasks are known and the metrics port is bound (so `ready` can name it).
    const metricsBound =
      this.metricsListener === null
        ? Promise.resolve()
        : this.metricsListener.listen(config.metrics.host, config.metrics.port).then(
            (p) => {
              this.metricsPort = p;
              this.log.info({ metricsPort: p, host: config.metrics.host }, 'metrics listening');
            },
            (err: unknown) => {
              const wire = toWire(err);
              this.log.error({ code: wire.code }, wire.message);
              this.fail(wire);
            },
          );
    this.tasksLoaded = Promise.all([this.tasksLoaded, metricsBound]).then(() => {});
    this.heartbeats = new HeartbeatMonitor(this.shared, HUNG_AFTER_MS, (hb, hung, silentMs) => this.onHeartbeat(hb, hung, silentMs));
    this.heartbeatTimer = setInterval(() => this.heartbeats.tick(), HEARTBEAT_CHECK_MS).unref();
    this.health = startPrimaryHealth(config.health, {
      readiness: () => (['starting', 'ready', 'draining'] as const)[Atomics.load(this.shared, Slot.PHASE)] ?? 'draining',
      stuckShards: () => [...this.live].filter((s) => this.heartbeats.isHung(s.heartbeat)).map((s) => s.id),
    }).then(
      (h) => ((this.healthPort = h?.port ?? 0), h),
      (err: WireError) => (this.fail(err), null),
    );
    for (let id = 0; id < config.shards; id++) this.spawn(id, config, 0, 'current');
  }

  /** Heartbeat age per shard number (ms): the older of two threads of one shard during a roll. */
  private heartbeatAges(): Map<number, number> {
    const out = new Map<number, number>();
    const ages = this.heartbeats.ages();
    for (const slot of this.live) {
      const age = ages.get(slot.heartbeat);
      if (age !== undefined) out.set(slot.id, Math.max(age, out.get(slot.id) ?? 0));
    }
    return out;
  }

  /** Reload state for metrics: last reload ok, its time, counts, the serving generation. */
  get reloadState(): Readonly<ReloadState> {
    return this.reloader.state;
  }

  private spawn(id: number, config: ResolvedConfig, generation: number, role: 'current' | 'incoming'): ShardSlot {
    const heartbeat = this.heartbeatPool.acquire();
    const metrics = this.metrics.allocate(id);
    const slot = startShardThread({ shard: id, heartbeat, generation, config, state: this.state, metrics }, config, role);
    this.metrics.track(id, slot.worker);
    if (role === 'current') this.shards[id] = slot; // a replacement takes the crashed shard's place
    this.live.add(slot);
    this.heartbeats.track(heartbeat);
    slot.port.on('message', (msg: FromShard) => this.onMessage(slot, msg));
    slot.worker.on('error', (err) => {
      // Errors the shard could not catch itself (out of memory in the thread, say).
      this.log.error({ shard: id, generation, err }, 'shard thread error');
      slot.crashed = true;
    });
    slot.worker.on('exit', (code) => this.onExit(slot, code));
    return slot;
  }

  private send(slot: ShardSlot, msg: ToShard, transfer?: readonly TransferListItem[]): void {
    if (!slot.exited) slot.port.postMessage(msg, transfer);
  }

  private onMessage(slot: ShardSlot, msg: FromShard): void {
    switch (msg.type) {
      case 'loaded':
        slot.loaded = true;
        if (slot.role === 'incoming') {
          this.reloader.onLoaded(slot);
        } else if (this.port !== 0) {
          // A replacement shard: the port is known, it listens at once.
          if (!this.draining) this.send(slot, { type: 'listen', port: this.port, tasks: this.tasks });
        } else if (this.shards.every((s) => s.loaded)) {
          // Start-up: shard 0 listens first (with port 0 it picks the port), then the others join it.
          void Promise.all([this.tasksLoaded, this.fleet.ready]).then(() => {
            if (!this.draining) this.send(this.shards[0] as ShardSlot, { type: 'listen', port: this.config.port, tasks: this.tasks });
          });
        }
        break;
      case 'listening':
        slot.listening = true;
        if (slot.role === 'incoming') {
          this.log.info({ shard: slot.id, generation: slot.generation, port: this.port }, 'new shard listening');
          this.reloader.onListening(slot);
          break;
        }
        if (this.port === 0) {
          this.port = msg.port;
          for (const other of this.shards) if (other !== slot) this.send(other, { type: 'listen', port: msg.port, tasks: this.tasks });
        }
        if (Atomics.load(this.shared, Slot.PHASE) === Phase.READY) {
          this.log.info({ shard: slot.id, port: this.port }, 'shard restarted');
        } else if (!this.draining && this.shards.every((s) => s.listening)) {
          Atomics.store(this.shared, Slot.PHASE, Phase.READY);
          const others = foreignListeners(this.port);
          if (others > 0) {
            this.log.warn(
              { port: this.port, otherListeners: others },
              'another process also listens on this port (SO_REUSEPORT): the kernel splits new connections between them; expected only during an overlapping restart',
            );
          }
          void this.health.then((h) => {
            this.log.info(
              {
                port: this.port,
                shards: this.shards.length,
                host: this.config.host,
                healthPort: h?.port,
                ...(this.metricsPort !== 0 ? { metricsPort: this.metricsPort } : {}),
              },
              'ready',
            );
            this.resolveReady({ port: this.port });
            void this.fleet.openApi();
          });
        }
        break;
      case 'publish':
        // Every generation: a retiring shard's subscribers are served until their sockets close.
        for (const other of this.live) {
          if (other !== slot) this.send(other, { type: 'publish', topic: msg.topic, payload: msg.payload, binary: msg.binary });
        }
        this.fleet.onShardMessage(slot.heartbeat, msg, (r) => this.send(slot, r));
        break;
      case 'broker-publish':
      case 'interest':
      case 'history':
        this.fleet.onShardMessage(slot.heartbeat, msg, (r) => this.send(slot, r));
        break;
      case 'offload':
        void this.runOffload(slot, msg.id, msg.task, msg.payload);
        break;
      case 'log':
        this.log[msg.level]({ shard: msg.shard, ...msg.fields }, msg.msg);
        break;
      case 'drained':
        slot.report = msg.report;
        slot.reportedAt = performance.now();
        this.metrics.shardDrained(msg.report);
        if (this.draining) this.drainReports.push(msg.report);
        this.log.info({ ...msg.report, generation: slot.generation }, 'shard drained');
        if (slot.role === 'retiring') this.reloader.onRetired(slot);
        // Every shard has drained: what is left is TCP teardown, nothing to force.
        if (this.draining && [...this.live].every((s) => s.report !== null)) clearTimeout(this.deadlineTimer);
        break;
      case 'fatal':
        this.log.error({ shard: msg.shard, generation: slot.generation, code: msg.error.code, err: msg.error }, msg.error.message);
        if (slot.role === 'incoming') {
          slot.crashed = true;
          this.reloader.onIncomingFailed(slot, msg.error.message);
        } else if (slot.role === 'retiring') {
          slot.crashed = true; // it closes its own sockets and reports; the roll goes on
        } else if (!this.draining && Atomics.load(this.shared, Slot.PHASE) === Phase.READY) {
          slot.crashed = true; // it closes itself; a replacement starts once it has exited
        } else {
          this.fail(msg.error);
        }
        break;
      default:
        assertNever(msg, 'primary');
    }
  }

  private async runOffload(slot: ShardSlot, id: number, task: string, payload: unknown): Promise<void> {
    const outcome =
      this.pool === null
        ? ({ ok: false, error: { code: ErrorCode.OFFLOAD_NOT_CONFIGURED, message: 'no offload.module is configured' } } as const)
        : await this.pool.run(task, payload);
    this.metrics.offloadDone(outcome);
    const msg: ToShard = { type: 'offload-result', id, ...outcome };
    try {
      this.send(slot, msg, outcome.ok && outcome.value instanceof ArrayBuffer ? [outcome.value] : undefined);
    } catch (err) {
      // The task's result cannot be cloned (a function, say): the caller gets a typed error.
      this.send(slot, {
        type: 'offload-result',
        id,
        ok: false,
        error: {
          code: ErrorCode.OFFLOAD_TASK_FAILED,
          message: `task '${task}' returned a value that cannot be sent back: ${(err as Error).message}`,
          name: 'DataCloneError',
        },
      });
    }
  }

  /** A start-up error or a shard failure: remember the first error and take everything down. */
  private fail(error: WireError): void {
    this.error ??= error;
    this.rejectReady(this.error);
    if (Atomics.load(this.shared, Slot.PHASE) === Phase.READY) {
      void this.drain('shard failure'); // let the healthy shards drain their clients properly
    } else {
      void this.force('failure');
    }
  }

  private onExit(slot: ShardSlot, code: number): void {
    // The 'exit' event can overtake messages still waiting on the port: read them first.
    for (let m = receiveMessageOnPort(slot.port); m !== undefined; m = receiveMessageOnPort(slot.port)) {
      this.onMessage(slot, m.message as FromShard);
    }
    slot.exited = true;
    slot.port.close();
    this.fleet.dropShard(slot.heartbeat);
    this.live.delete(slot);
    this.metrics.retire(slot.metrics, slot.worker);
    this.heartbeats.untrack(slot.heartbeat);
    this.heartbeatPool.release(slot.heartbeat);
    if (this.draining && slot.reportedAt !== 0) {
      // From its report to its thread's exit: uWS finishing the TCP teardown of its sockets.
      this.log.debug({ shard: slot.id, teardownMs: Math.round(performance.now() - slot.reportedAt), exitCode: code }, 'shard exited');
    }
    if (slot.role !== 'current') {
      if (code !== 0) this.log.error({ shard: slot.id, generation: slot.generation, role: slot.role, exitCode: code }, 'shard exited with an error');
      if (slot.role === 'incoming') this.reloader.onIncomingFailed(slot, `exited with code ${code}`);
      else this.reloader.onRetired(slot);
      if (this.draining) this.exitedWhileDraining();
      return;
    }
    if (!this.draining && Atomics.load(this.shared, Slot.PHASE) === Phase.READY) {
      if (!slot.crashed) this.log.error({ shard: slot.id, exitCode: code }, 'shard exited outside a drain');
      this.scheduleRestart(slot.id);
      return;
    }
    if (!this.draining) {
      this.log.error({ shard: slot.id, exitCode: code }, 'shard exited outside a drain');
      this.fail({ code: ErrorCode.SHARD_FAILED, message: `shard ${slot.id} exited with code ${code}` });
    } else if (code !== 0) {
      this.log.error({ shard: slot.id, exitCode: code }, 'shard exited with an error');
      this.error ??= { code: ErrorCode.SHARD_FAILED, message: `shard ${slot.id} exited with code ${code}` };
    } else if (slot.report === null && this.error === undefined) {
      this.error = { code: ErrorCode.SHARD_FAILED, message: `shard ${slot.id} exited without a drain report` };
    }
    this.exitedWhileDraining();
  }

  private exitedWhileDraining(): void {
    if (this.live.size === 0) this.finish();
    else this.killIfOnlyStuckShardsRemain();
  }

  /** Restarts a crashed shard on the same port after a backoff; a crash loop gives up (drain, exit 1). */
  private scheduleRestart(id: number): void {
    const delay = this.restarts.next(id);
    if (delay === null) {
      const message = `shard ${id} crashed more than ${this.restarts.maxRestarts} times in ${this.restarts.windowMs / 1000} s: giving up`;
      this.log.fatal({ shard: id, code: ErrorCode.SHARD_FAILED }, message);
      this.fail({ code: ErrorCode.SHARD_FAILED, message });
      return;
    }
    this.log.warn({ shard: id, inMs: delay }, 'restarting shard');
    this.metrics.shardRestarted();
    this.restartTimers.set(
      id,
      setTimeout(() => {
        this.restartTimers.delete(id);
        // Not if a roll has replaced the crashed thread meanwhile.
        const crashed = this.shards[id];
        if (!this.draining && crashed?.exited === true) this.spawn(id, this.config, crashed.generation, 'current');
      }, delay),
    );
  }

  private cancelRestarts(): void {
    for (const timer of this.restartTimers.values()) clearTimeout(timer);
    this.restartTimers.clear();
  }

  private onHeartbeat(heartbeat: number, hung: boolean, silentMs: number): void {
    const shard = [...this.live].find((s) => s.heartbeat === heartbeat)?.id;
    if (!hung) {
      this.log.warn({ shard, silentMs: Math.round(silentMs) }, 'shard responsive again');
      return;
    }
    this.log.error({ shard, silentMs: Math.round(silentMs) }, 'shard unresponsive: its event loop is stuck');
    this.killIfOnlyStuckShardsRemain();
  }

  /**
   * After a forced drain, a shard whose event loop is stuck can never close
   * its sockets, and ending its thread from outside aborts the process. Once
   * every other shard has exited, the process ends itself with SIGKILL (exit
   * 137): the one end that cannot abort or hang. Logs are written synchronously.
   */
  private killIfOnlyStuckShardsRemain(): void {
    if (!this.forced) return;
    const left = [...this.live];
    if (left.length === 0 || !left.every((s) => this.heartbeats.isHung(s.heartbeat))) return;
    this.log.fatal({ shards: left.map((s) => s.id), exitCode: 137 }, 'stuck shards cannot drain: killing the process');
    process.kill(process.pid, 'SIGKILL');
  }

  /**
   * SIGHUP: re-reads the config and rolls the shards onto a new generation
   * (src/primary/reload.ts). Never throws and never stops the server: a bad
   * config or a failed roll is logged and leaves the running shards serving.
   */
  reload(signal = 'reload'): Promise<ReloadResult> {
    if (this.draining || Atomics.load(this.shared, Slot.PHASE) !== Phase.READY) {
      const why = this.draining ? 'the server is draining' : 'the server is still starting';
      this.log.warn({ signal }, `reload ignored: ${why}`);
      return Promise.resolve({ ok: false, changed: [], error: why, reports: [], durationMs: 0 });
    }
    return this.reloader.request(signal);
  }

  private commitRoll(config: ResolvedConfig, incoming: ShardSlot[]): ShardSlot[] {
    const old = [...this.shards];
    this.cancelRestarts(); // the new generation replaces any shard waiting for its restart
    this.config = config;
    for (const s of old) s.role = 'retiring';
    for (const s of incoming) {
      s.role = 'current';
      this.shards[s.id] = s;
    }
    return old.filter((s) => !s.exited);
  }

  /** Begins the drain; idempotent (every call returns the same promise). */
  drain(reason = 'drain'): Promise<ShutdownSummary> {
    if (this.draining) return this.closed;
    this.draining = true;
    this.reason = reason;
    this.drainStartedAt = performance.now();
    Atomics.store(this.shared, Slot.PHASE, Phase.DRAINING);
    this.cancelRestarts();
    this.reloader.cancel();
    const { delayMs, timeoutMs, spreadMs, closeCode, closeReason } = this.config.drain;
    this.log.info({ signal: reason, delayMs, timeoutMs, spreadMs, shards: this.shards.length }, 'drain');
    this.delayTimer = setTimeout(() => {
      this.delayTimer = undefined;
      const msg: ToShard = { type: 'drain', kind: 'shutdown', closeCode, closeReason: formatCloseReason(closeReason, spreadMs), spreadMs };
      for (const slot of this.live) this.send(slot, msg);
      if (this.live.size === 0) this.finish(); // e.g. the only shard was waiting for its restart
      this.deadlineTimer = setTimeout(() => {
        this.log.warn({ timeoutMs }, 'drain deadline reached: forcing');
        void this.force('deadline');
      }, timeoutMs);
    }, delayMs);
    return this.closed;
  }

  /** Closes what is left at once (deadline, second signal, start-up failure). */
  force(reason: 'deadline' | 'signal' | 'failure' = 'signal'): Promise<ShutdownSummary> {
    if (this.forced || this.finishing) return this.closed;
    if (!this.draining) {
      this.draining = true;
      this.reason = reason;
      this.drainStartedAt = performance.now();
      Atomics.store(this.shared, Slot.PHASE, Phase.DRAINING);
    }
    this.forced = true;
    this.cancelRestarts();
    this.reloader.cancel();
    clearTimeout(this.delayTimer);
    clearTimeout(this.deadlineTimer);
    for (const slot of this.live) this.send(slot, { type: 'force', reason });
    this.exitTimer = setTimeout(() => {
      const stuck = [...this.live].map((s) => s.id);
      this.log.fatal({ shards: stuck, graceMs: FORCED_EXIT_GRACE_MS }, 'shard threads did not exit after a forced drain: killing the process');
      process.kill(process.pid, 'SIGKILL');
    }, FORCED_EXIT_GRACE_MS);
    this.exitTimer.unref();
    if (this.live.size === 0) this.finish();
    this.killIfOnlyStuckShardsRemain();
    return this.closed;
  }

  /** Every shard thread has exited: no task result can be delivered any more, so the pool may close. */
  private finish(): void {
    if (this.finishing) return;
    this.finishing = true;
    clearTimeout(this.delayTimer);
    clearTimeout(this.deadlineTimer);
    clearInterval(this.heartbeatTimer);
    void this.metricsListener?.close();
    // The broker stays up until every shard has drained and run its stop() hook
    // (which may publish); only then are outstanding publishes flushed and it closes.
    const pool = Promise.all([this.pool === null ? Promise.resolve() : this.pool.close(this.forced || this.error !== undefined), this.fleet.close()]);
    void pool.then(
      () => this.summarize(),
      (err: unknown) => {
        this.log.error({ err }, 'offload pool did not close cleanly');
        this.summarize();
      },
    );
  }

  /**
   * Publishes from the primary thread (the standalone publish(), the HTTP API):
   * through the broker, then to every subscriber on every node.
   */
  publish(topic: string, data: string | Uint8Array, opts: { binary?: boolean; key?: string } = {}): Promise<PublishResult> {
    return this.fleet.publish(topic, data, opts);
  }

  private summarize(): void {
    clearTimeout(this.exitTimer);
    const reports = this.drainReports;
    const exitCode = this.error !== undefined ? exitCodeFor(this.error.code) : this.forced ? 1 : 0;
    const summary: ShutdownSummary = {
      exitCode,
      reason: this.reason,
      forced: this.forced,
      durationMs: this.drainStartedAt === 0 ? 0 : Math.round(performance.now() - this.drainStartedAt),
      reports,
      error: this.error,
      broker: this.fleet.report,
    };
    this.log[exitCode === 0 ? 'info' : 'warn'](
      {
        reason: this.reason,
        exitCode,
        forced: this.forced,
        durationMs: summary.durationMs,
        shards: this.shards.length,
        ...totals(reports),
        ...(this.fleet.report !== undefined ? { broker: this.fleet.report } : {}),
      },
      'stopped',
    );
    void this.health.then((h) => h?.close());
    this.resolveClosed(summary);
  }
}
