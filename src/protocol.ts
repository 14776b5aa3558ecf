/**
 * Messages between the primary thread and the shard threads. Each shard has
 * its own MessagePort (handed over in `init`). Both sides switch on `type`
 * and fail loudly on anything they do not know.
 */
import type { MessagePort } from 'node:worker_threads';
import type { ResolvedConfig } from './config.js';
import type { WireError } from './errors.js';
import type { HistoryPage, StreamPosition } from './broker/broker.js';
import type { MetricsInit } from './metrics/layout.js';

/** Process phase, in the shared state: /readyz reads it without a message round trip. */
export const Phase = {
  STARTING: 0,
  READY: 1,
  DRAINING: 2,
} as const;

/**
 * Layout of the shared state (Int32 slots of one SharedArrayBuffer):
 *   [PHASE]          the Phase above, written by the primary
 *   [CONNECTIONS]    open sockets over every shard (limits.maxConnections)
 *   [HEARTBEAT + h]  the heartbeat counter of the shard thread given slot h
 *                    (ShardInit.heartbeat), bumped by its event loop
 *
 * There are three heartbeat slots per configured shard (heartbeatSlots):
 * during a SIGHUP roll a new generation of shards runs beside the old one.
 */
export const Slot = {
  PHASE: 0,
  CONNECTIONS: 1,
  HEARTBEAT: 2,
} as const;

/**
 * Heartbeat slots for `shards` configured shards: the current generation, a
 * roll's new one, and the threads of the roll before it that are still
 * finishing their sockets' TCP teardown (up to the close handshake, 8 s).
 */
export function heartbeatSlots(shards: number): number {
  return shards * 3;
}

export function sharedStateBytes(shards: number): number {
  return (Slot.HEARTBEAT + heartbeatSlots(shards)) * Int32Array.BYTES_PER_ELEMENT;
}

/** What a shard is given at spawn time (workerData). */
export interface ShardInit {
  /** The shard's number (0..shards-1); a roll's replacement keeps the number of the shard it replaces. */
  shard: number;
  /** Its heartbeat slot in the shared state (unique among the threads alive at once). */
  heartbeat: number;
  /** 0 at start, +1 per SIGHUP roll. */
  generation: number;
  config: ResolvedConfig;
  /** The shared state; see Slot. */
  state: SharedArrayBuffer;
  /** This thread's metrics slot (src/metrics/layout.ts). */
  metrics: MetricsInit;
}

export type PublishPayload = string | Uint8Array;

export type ToShard =
  | { type: 'init'; port: MessagePort }
  /** `tasks`: the offload task names (null when offloading is off). */
  | { type: 'listen'; port: number; tasks: string[] | null }
  /**
   * Drain: stop accepting, close every socket with `closeCode` and
   * `closeReason` (already formatted, at most 123 bytes: the plain text, or the
   * JSON retry hint when spreadMs > 0), the i-th of n sockets at i/n of
   * `spreadMs`. 1001 (drain.closeCode) at a shutdown, 1012 for a SIGHUP roll.
   * `kind` 'roll': the node stays ready (its /readyz answers by the node's
   * phase, not this shard's drain), since new shards serve.
   */
  | { type: 'drain'; kind: 'shutdown' | 'roll'; closeCode: number; closeReason: string; spreadMs: number }
  /** A SIGHUP roll: close the listen socket only (the new generation listens); serve the open sockets on. */
  | { type: 'unlisten' }
  | { type: 'force'; reason: 'deadline' | 'signal' | 'failure' }
  /** A publication for this shard's subscribers; offset and epoch on history topics (delivered in offset order). */
  | { type: 'publish'; topic: string; payload: PublishPayload; binary: boolean; offset?: number; epoch?: string }
  /** The answer to a `broker-publish`. */
  | { type: 'broker-reply'; id: number; ok: true; position?: StreamPosition | undefined; duplicate: boolean }
  | { type: 'broker-reply'; id: number; ok: false; error: WireError }
  /** The answer to a `history` request. */
  | { type: 'history-reply'; id: number; ok: true; page: HistoryPage }
  | { type: 'history-reply'; id: number; ok: false; error: WireError }
  /** A history topic's stream broke (a new epoch, a gap that could not be filled): its subscribers must resync. */
  | { type: 'resync'; topic: string }
  | { type: 'offload-result'; id: number; ok: true; value: unknown }
  | { type: 'offload-result'; id: number; ok: false; error: WireError };

export interface DrainReport {
  shard: number;
  /** Sockets closed after the drain began (by the drain, the client or the app). */
  connectionsClosed: number;
  /** Sockets hard-closed without a close frame because the drain was forced. */
  connectionsForced: number;
  /** Hooks that were in flight when the drain began, or started during it, and settled. */
  handlersAwaited: number;
  /** Hooks still running when the drain was forced. */
  handlersAbandoned: number;
  /** Messages that waited in a write queue because their socket was backpressured, over the shard's life. */
  messagesQueued: number;
  /** Queued messages written out after the drain began. */
  messagesFlushed: number;
  /** Offloaded tasks that settled after the drain began (their results were handed to the app). */
  offloadAwaited: number;
  /** Offloaded tasks still pending when the drain was forced. */
  offloadAbandoned: number;
  /** Sockets ended without the pong to the drain's barrier ping (it did not come within 1 s). */
  barrierTimeouts: number;
  /** Messages accepted or published for a socket but never written to it, over the shard's life. */
  messagesDropped: number;
  /** Sockets closed because their write queue overflowed, over the shard's life. */
  slowConsumerCloses: number;
  /** 'ok', 'none' (no stop hook), 'failed' (threw) or 'timeout' (still running when forced). */
  stopHook: 'ok' | 'none' | 'failed' | 'timeout';
  forced: boolean;
  /** Milliseconds the shard spent ending its sockets (its own CPU share of the drain). */
  endLoopMs: number;
  durationMs: number;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export type FromShard =
  | { type: 'loaded'; shard: number }
  | { type: 'listening'; shard: number; port: number }
  /** A publication made on this shard and already delivered to its own subscribers (no history, no key). */
  | { type: 'publish'; shard: number; topic: string; payload: PublishPayload; binary: boolean }
  /** A publication that needs the broker first (a history topic, or an idempotency key); answered by `broker-reply`. */
  | { type: 'broker-publish'; shard: number; id: number; topic: string; payload: PublishPayload; binary: boolean; key?: string | undefined }
  /** `topic` gained its first subscriber on this shard (on) or lost its last (off). */
  | { type: 'interest'; shard: number; topic: string; on: boolean }
  /** Reads a history topic (once the node's broker subscription to it is live); answered by `history-reply`. */
  | { type: 'history'; shard: number; id: number; topic: string; since: number; limit: number }
  | { type: 'offload'; shard: number; id: number; task: string; payload: unknown }
  | { type: 'log'; shard: number; level: LogLevel; msg: string; fields: Record<string, unknown> }
  | { type: 'drained'; shard: number; report: DrainReport }
  | { type: 'fatal'; shard: number; error: WireError };

export function assertNever(msg: never, side: string): never {
  throw new Error(`this should not happen: ${side} got an unknown message ${JSON.stringify((msg as { type?: unknown })?.type)}`);
}
