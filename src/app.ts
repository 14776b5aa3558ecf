/**
 * The app contract: an ES module whose default export is a plain object of
 * hooks. Hooks run inside the shard threads; every hook may be async.
 */

import type { TransferListItem } from 'node:worker_threads';

/** What an app may send: text as a string, binary as bytes. */
export type Payload = string | ArrayBuffer | Uint8Array;

/** A copy of the HTTP upgrade request (uWS's own request object dies when the handler returns). */
export interface UpgradeRequest {
  readonly method: string;
  readonly url: string;
  readonly query: string;
  /** Header names are lower-case. */
  readonly headers: Readonly<Record<string, string>>;
  readonly remoteAddress: string;
}

export interface OffloadOptions {
  /** ArrayBuffers (or MessagePorts) to move to the pool instead of copying. */
  transfer?: TransferListItem[];
}

export interface Connection<Data = unknown> {
  /** Unique across the shards of one process: `<shard>.<n>`. */
  readonly id: string;
  /** Whatever the `upgrade` hook returned (undefined without that hook). */
  data: Data;
  /** Index of the shard thread that owns this socket. */
  readonly shard: number;
  /**
   * Queues a message for this socket, in order with every other send to it.
   * Returns false when the message was not accepted (socket closed, or dropped
   * under `drop-newest`); every such message is counted in the shard's report.
   */
  send(data: Payload, isBinary?: boolean): boolean;
  subscribe(topic: string): void;
  unsubscribe(topic: string): void;
  /** Delivers to every subscriber of `topic` on every shard, this socket included if subscribed. */
  publish(topic: string, data: Payload, isBinary?: boolean): void;
  /** Closes with a close frame after what is already queued has been flushed. */
  end(code?: number, reason?: string): void;
  /** Bytes waiting for this socket: uWS's buffer plus shardline's queue. */
  readonly bufferedBytes: number;
  /** True once the socket is closing or closed; sends are then refused. */
  readonly closed: boolean;
  /**
   * Runs a task of the offload module (offload.module) in the worker pool and
   * resolves with its result; rejects with an OffloadError (see its `code`).
   * A drain waits for it before this socket's close frame; once that frame is
   * sent, new calls reject with SHARDLINE_OFFLOAD_SHUTTING_DOWN.
   */
  offload<T = unknown>(task: string, payload?: unknown, opts?: OffloadOptions): Promise<T>;
}

type MaybePromise<T> = T | Promise<T>;

export interface App<Data = unknown> {
  /** Return false to reject with 401; any other value becomes `conn.data`. */
  upgrade?(req: UpgradeRequest): MaybePromise<Data | false>;
  open?(conn: Connection<Data>): MaybePromise<void>;
  /** `data` is a copy the hook may keep after an await. */
  message?(conn: Connection<Data>, data: Buffer, isBinary: boolean): MaybePromise<void>;
  close?(conn: Connection<Data>, code: number, reason: string): MaybePromise<void>;
  /** Runs once per shard after its connections are closed, before the shard reports drained. */
  stop?(): MaybePromise<void>;
}

export const HOOKS = ['upgrade', 'open', 'message', 'close', 'stop'] as const;

/** An identity helper that gives an app object its types. */
export function defineApp<Data = unknown>(app: App<Data>): App<Data> {
  return app;
}
