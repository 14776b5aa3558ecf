/**
 * The hook runner: calls the app's hooks and tracks the ones still running.
 *
 * A hook may be sync or async. An async hook (and an offloaded task the app
 * started) counts as in flight for its socket and for the shard until it
 * settles: the drain waits for it before that socket's close frame and before
 * the shard's stop() hook. A hook that throws or rejects closes only its own
 * socket (1011); the error goes to the server log, never to the client.
 */
import type { App } from '../app.js';
import { ErrorCode, closeCodeFor } from '../errors.js';
import type { LogLevel } from '../protocol.js';
import type { HookName } from '../metrics/layout.js';
import type { ShardMeter } from '../metrics/shard-meter.js';
import type { SocketConnection } from './connection.js';

export function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v !== null && (typeof v === 'object' || typeof v === 'function') && typeof (v as PromiseLike<unknown>).then === 'function';
}

export function errorFields(err: unknown): Record<string, unknown> {
  return err instanceof Error ? { err: { type: err.name, message: err.message, stack: err.stack } } : { err: String(err) };
}

export interface HookHost {
  readonly stats: { handlerErrors: number };
  readonly meter: ShardMeter;
  log(level: LogLevel, msg: string, fields?: Record<string, unknown>): void;
  /** A hook or task settled: the drain may have nothing left to wait for. */
  settled(kind: 'hook' | 'offload'): void;
}

export class HookRunner {
  /** Hooks and offloaded tasks in flight on this shard (all kinds). */
  inflight = 0;
  app: App = {};

  constructor(private readonly host: HookHost) {}

  /** Runs a hook; an async one is tracked as in flight for its socket and the shard. */
  run(conn: SocketConnection | null, name: HookName, call: () => unknown): void {
    // One call in sampleEvery is timed (performance.now() costs ~100 ns); an async hook until it settles.
    const meter = this.host.meter;
    const t0 = meter.sample() ? performance.now() : -1;
    let result: unknown;
    try {
      result = call();
    } catch (err) {
      this.failed(conn, name, err);
      return;
    }
    if (!isThenable(result)) {
      if (t0 >= 0) meter.observeHook(name, (performance.now() - t0) / 1000);
      return;
    }
    this.track(conn);
    result.then(
      () => {
        if (t0 >= 0) meter.observeHook(name, (performance.now() - t0) / 1000);
        this.done(conn, 'hook');
      },
      (err: unknown) => {
        this.failed(conn, name, err);
        this.done(conn, 'hook');
      },
    );
  }

  /** Counts something the app awaits (an async upgrade, a task) as in flight. */
  track(conn: SocketConnection | null): void {
    this.inflight++;
    if (conn !== null) conn.inflight++;
  }

  done(conn: SocketConnection | null, kind: 'hook' | 'offload'): void {
    this.inflight--;
    conn?.hookDone();
    this.host.settled(kind);
  }

  /** A hook threw: only its own socket is closed (1011); the details go to the server log, never to the client. */
  failed(conn: SocketConnection | null, name: HookName, err: unknown): void {
    this.host.stats.handlerErrors++;
    this.host.meter.hookFailed(name);
    this.host.log('error', `${name} hook failed`, { conn: conn?.id, code: ErrorCode.HANDLER_FAILED, ...errorFields(err) });
    conn?.end(closeCodeFor[ErrorCode.HANDLER_FAILED], 'internal error');
  }
}
