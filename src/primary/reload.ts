/**
 * SIGHUP: reload the config and roll the shards onto a new generation.
 *
 *   1. re-read and validate the config exactly as at start; any error is
 *      logged and nothing changes (the server keeps running);
 *   2. refuse keys that cannot change without a restart (IMMUTABLE): logged
 *      by name, nothing changes;
 *   3. start a fresh thread per shard with the new config (a fresh thread
 *      re-imports the app module: a re-import in this thread would return the
 *      cached old code) and wait until all have loaded;
 *   4. the new shards listen one at a time (SO_REUSEPORT, beside the old);
 *      a new shard that fails to load or listen aborts the roll: the new
 *      threads are drained, the old shards were never touched;
 *   5. commit: the new config is the server's, the old shards close their
 *      listen sockets (after a loop turn, never after a long synchronous
 *      stretch: OPS-NOTES 3) so reconnecting clients only reach new shards;
 *   6. the old shards drain one at a time with close code 1012, spread over
 *      reload.spreadMs, each forced after its own reload.timeoutMs;
 *   7. a `reloaded` line names what changed and the old shards' reports.
 * /readyz stays 200 throughout (the phase stays READY). A second SIGHUP during
 * a roll is coalesced into one more roll after it; a drain (SIGTERM) cancels
 * the roll, and every thread, old or new, drains with the server.
 */
import type { ResolvedConfig } from '../config.js';
import { CloseCode, toWire } from '../errors.js';
import { formatCloseReason } from '../close-reason.js';
import type { DrainReport, ToShard } from '../protocol.js';
import type { Logger } from './logger.js';
import type { ShardSlot } from './shard-slot.js';
import { totals } from './reports.js';
import { writeStatus } from './reload-status.js';

/** A new shard must have loaded and be listening within this long, or the roll is aborted. */
export const ROLL_START_TIMEOUT_MS = 15_000;
/** The close reason of a roll's 1012 frames. */
export const ROLL_CLOSE_REASON = 'server restarting';

/** Keys a roll cannot change: listeners are per address; the pool, the broker and the shared state are per process. */
const IMMUTABLE = ['port', 'host', 'shards', 'offload', 'health', 'pidFile', 'exitWithParent', 'broker', 'history', 'api', 'nodeId'] as const;

export interface ReloadResult {
  ok: boolean;
  changed: string[];
  error?: string | undefined;
  reports: DrainReport[];
  durationMs: number;
}

/** Reload state for metrics (the Prometheus convention: `<app>_config_last_reload_successful` and its timestamp). */
export interface ReloadState {
  inProgress: boolean;
  /** null before the first reload. */
  lastOk: boolean | null;
  /** Epoch ms of the last successful reload (0: none yet). */
  lastSuccessAt: number;
  /** Epoch ms of the last reload's end, ok or not (0: none yet). */
  lastAttemptAt: number;
  successes: number;
  failures: number;
  /** The generation of the serving shards (0 until the first successful roll). */
  generation: number;
}

/** What the roll needs from the server. */
export interface RollHost {
  readonly log: Logger;
  config(): ResolvedConfig;
  /** Re-reads the config as at start; throws a ShardlineError naming file and key. */
  loadConfig(): ResolvedConfig;
  current(): readonly ShardSlot[];
  /** Shard slots free now (threads of earlier generations may still be closing). */
  freeSlots(): number;
  /** Starts an `incoming` thread for shard `id`. */
  spawn(id: number, config: ResolvedConfig, generation: number): ShardSlot;
  send(slot: ShardSlot, msg: ToShard): void;
  listenMessage(): ToShard;
  /** Makes `incoming` the current shards and `config` the server's; returns the old slots, now `retiring`. */
  commit(config: ResolvedConfig, incoming: ShardSlot[]): ShardSlot[];
  /** Where the status file goes (next to the pid file); null: none. */
  pidFile(): string | null;
  /** The outcome, for metrics (shardline_config_last_reload_*). */
  reloaded(ok: boolean): void;
}

/** A node id generated at start (none configured) is the node's for its whole life: a re-read config must not make a new one. */
export function keepGeneratedNodeId(next: ResolvedConfig, running: ResolvedConfig): ResolvedConfig {
  const generated = new RegExp(`-${process.pid}-[0-9a-f]{6}$`);
  return next.nodeId !== running.nodeId && generated.test(next.nodeId) && generated.test(running.nodeId)
    ? Object.freeze({ ...next, nodeId: running.nodeId })
    : next;
}

/** Dotted paths whose values differ between two resolved configs. */
export function changedKeys(a: unknown, b: unknown, path = ''): string[] {
  const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
  if (isObj(a) && isObj(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    return [...keys].flatMap((k) => changedKeys(a[k], b[k], path ? `${path}.${k}` : k));
  }
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [path];
}

export class Reloader {
  readonly state: ReloadState = { inProgress: false, lastOk: null, lastSuccessAt: 0, lastAttemptAt: 0, successes: 0, failures: 0, generation: 0 };
  private pending: { resolve: (r: ReloadResult) => void; promise: Promise<ReloadResult> } | null = null;
  private resolveRun: ((r: ReloadResult) => void) | null = null;
  private running: Promise<ReloadResult> | null = null;
  private incoming: ShardSlot[] = [];
  private retiring: ShardSlot[] = [];
  private retireIndex = 0;
  private next: ResolvedConfig | null = null;
  private changed: string[] = [];
  private startedAt = 0;
  private t0 = 0;
  private timer: NodeJS.Timeout | undefined;
  private committed = false;
  private readonly reports: DrainReport[] = [];

  constructor(private readonly host: RollHost) {}

  /** Starts a roll, or coalesces into the one after the running roll. */
  request(signal: string): Promise<ReloadResult> {
    if (this.running === null) return this.start(signal);
    if (this.pending === null) {
      let resolve!: (r: ReloadResult) => void;
      const promise = new Promise<ReloadResult>((r) => (resolve = r));
      this.pending = { resolve, promise };
    }
    this.host.log.info({ signal }, 'reload requested during a roll: coalesced into one more roll after it');
    return this.pending.promise;
  }

  private start(signal: string): Promise<ReloadResult> {
    this.startedAt = Date.now();
    this.t0 = performance.now();
    this.state.inProgress = true;
    this.running = new Promise((resolve) => (this.resolveRun = resolve));
    const old = this.host.config();
    let next: ResolvedConfig;
    try {
      next = this.host.loadConfig();
    } catch (err) {
      const wire = toWire(err);
      this.host.log.error({ code: wire.code }, `reload failed, nothing changed: ${wire.message}`);
      return this.end(false, `config: ${wire.message}`);
    }
    this.changed = changedKeys(old, next);
    const refused = this.changed.filter((k) => IMMUTABLE.some((i) => k === i || k.startsWith(`${i}.`)));
    if (refused.length > 0) {
      for (const key of refused) {
        this.host.log.error({ key }, `reload refused, nothing changed: ${key} cannot change on reload (it needs a restart of the process)`);
      }
      return this.end(false, `refused: ${refused.join(', ')} cannot change on reload`);
    }
    const shards = this.host.current().length;
    if (this.host.freeSlots() < shards) {
      const message = 'the shards of the previous roll are still closing their sockets: reload again in a few seconds';
      this.host.log.error({ freeSlots: this.host.freeSlots(), shards }, `reload failed, nothing changed: ${message}`);
      return this.end(false, message);
    }
    this.next = next;
    const generation = this.state.generation + 1;
    this.host.log.info({ signal, changed: this.changed, generation, shards: next.shards }, 'reload: starting a new generation of shards');
    this.incoming = this.host.current().map((s) => this.host.spawn(s.id, next, generation));
    this.timer = setTimeout(() => this.abort(`the new shards did not start within ${ROLL_START_TIMEOUT_MS} ms`), ROLL_START_TIMEOUT_MS);
    return this.running;
  }

  /** An incoming shard loaded its app; once all have, they listen one at a time. */
  onLoaded(slot: ShardSlot): void {
    if (!this.incoming.includes(slot) || this.committed) return;
    if (this.incoming.every((s) => s.loaded)) this.listenNext();
  }

  onListening(slot: ShardSlot): void {
    if (!this.incoming.includes(slot) || this.committed) return;
    this.listenNext();
  }

  private listenNext(): void {
    const next = this.incoming.find((s) => !s.listening);
    if (next !== undefined) {
      this.host.send(next, this.host.listenMessage());
      return;
    }
    this.commit();
  }

  /** An incoming shard failed to load, to listen, or exited before the commit. */
  onIncomingFailed(slot: ShardSlot, message: string): void {
    if (!this.incoming.includes(slot) || this.committed) return;
    this.abort(`new shard ${slot.id} could not start: ${message}`);
  }

  private abort(reason: string): void {
    clearTimeout(this.timer);
    this.host.log.error({ reason }, 'reload aborted: the old shards keep serving');
    const frame: ToShard = { type: 'drain', kind: 'roll', closeCode: CloseCode.SERVICE_RESTART, closeReason: ROLL_CLOSE_REASON, spreadMs: 0 };
    for (const s of this.incoming) this.host.send(s, frame);
    this.incoming = [];
    void this.end(false, reason);
  }

  private commit(): void {
    clearTimeout(this.timer);
    this.committed = true;
    this.retiring = this.host.commit(this.next as ResolvedConfig, this.incoming);
    this.state.generation = this.incoming[0]?.generation ?? this.state.generation;
    // Every old listener closes before any old shard drains, so that clients
    // told to reconnect reach only new shards.
    for (const s of this.retiring) this.host.send(s, { type: 'unlisten' });
    this.retireIndex = 0;
    this.retireNext();
  }

  private retireNext(): void {
    clearTimeout(this.timer);
    const slot = this.retiring[this.retireIndex];
    if (slot === undefined) {
      void this.end(true);
      return;
    }
    if (slot.exited || slot.report !== null) {
      this.retireIndex++;
      this.retireNext();
      return;
    }
    const { spreadMs, timeoutMs } = (this.next as ResolvedConfig).reload;
    this.host.send(slot, {
      type: 'drain',
      kind: 'roll',
      closeCode: CloseCode.SERVICE_RESTART,
      closeReason: formatCloseReason(ROLL_CLOSE_REASON, spreadMs),
      spreadMs,
    });
    this.timer = setTimeout(() => {
      this.host.log.warn({ shard: slot.id, generation: slot.generation, timeoutMs }, 'old shard still draining at reload.timeoutMs: forcing it');
      this.host.send(slot, { type: 'force', reason: 'deadline' });
    }, timeoutMs);
  }

  /** A retiring shard reported its drain, or exited. */
  onRetired(slot: ShardSlot): void {
    if (!this.retiring.includes(slot)) return;
    if (slot.report !== null && !this.reports.includes(slot.report)) this.reports.push(slot.report);
    if (this.retiring[this.retireIndex] === slot) {
      this.retireIndex++;
      this.retireNext();
    }
  }

  /** A drain began: the roll stops where it is; the server drains every thread. */
  cancel(): void {
    if (this.running === null) return;
    clearTimeout(this.timer);
    const pending = this.pending;
    this.pending = null;
    this.host.log.warn({ generation: this.state.generation }, 'reload interrupted by the drain');
    void this.end(false, 'interrupted by a drain');
    pending?.resolve({ ok: false, changed: [], error: 'interrupted by a drain', reports: [], durationMs: 0 });
  }

  /** The status file `shardline reload` waits on (src/primary/reload-status.ts). */
  private writeStatus(result: ReloadResult): void {
    if (!result.ok) this.host.log.error({ error: result.error, durationMs: result.durationMs }, 'reload failed: the running shards keep serving');
    const pidFile = this.host.pidFile();
    if (pidFile === null) return;
    const { ok, changed, error } = result;
    try {
      writeStatus(pidFile, { pid: process.pid, startedAt: this.startedAt, finishedAt: Date.now(), ok, changed, error, generation: this.state.generation });
    } catch (err) {
      this.host.log.error({ file: pidFile, err: (err as Error).message }, 'cannot write the reload status file');
    }
  }

  private end(ok: boolean, error?: string): Promise<ReloadResult> {
    const result: ReloadResult = { ok, changed: this.changed, error, reports: [...this.reports], durationMs: Math.round(performance.now() - this.t0) };
    const now = Date.now();
    Object.assign(this.state, { inProgress: false, lastOk: ok, lastAttemptAt: now });
    if (ok) {
      this.state.successes++;
      this.state.lastSuccessAt = now;
      this.host.log.info(
        { changed: this.changed, generation: this.state.generation, durationMs: result.durationMs, ...totals(result.reports), reports: result.reports },
        'reloaded',
      );
    } else {
      this.state.failures++;
    }
    this.host.reloaded(ok);
    this.writeStatus(result);
    const running = this.running as Promise<ReloadResult>;
    this.resolveRun?.(result);
    this.running = null;
    this.resolveRun = null;
    this.incoming = [];
    this.retiring = [];
    this.reports.length = 0;
    this.changed = [];
    this.next = null;
    this.committed = false;
    const pending = this.pending;
    if (pending !== null) {
      this.pending = null;
      setImmediate(() => void this.start('coalesced').then(pending.resolve));
    }
    return running;
  }
}
