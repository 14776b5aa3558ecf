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

/** A topic's position: the offset of its last publication and its history's incarnation. */
export interface StreamPosition {
  offset: number;
  epoch: string;
}

/** Errors of subscribe() and publish() are values, never rejections: a fire-and-forget call cannot crash the shard. */
export interface PubSubError {
  code: string;
  message: string;
  /** The same call may succeed later (the broker was unreachable). */
  retryable: boolean;
}

export type SubscribeResult =
  | {
      ok: true;
      /** History topics: the topic's top when subscribed (live publications continue from offset + 1). */
      position?: StreamPosition | undefined;
      /** With `since`: true when every missed publication was delivered (in order, before this result); false when none was (never a partial replay). */
      recovered?: boolean | undefined;
    }
  | { ok: false; error: PubSubError };

export type PublishOutcome =
  | {
      ok: true;
      /** History topics: the publication's offset and the topic's epoch. */
      position?: StreamPosition | undefined;
      /** True when the idempotency key was seen before: nothing was published now, `position` is the first one's. */
      duplicate: boolean;
    }
  | { ok: false; error: PubSubError };

/** A publication as the shard delivers it; App.frame() turns it into what subscribers receive. */
export interface PublicationFrame {
  topic: string;
  data: string | Uint8Array;
  binary: boolean;
  offset?: number | undefined;
  epoch?: string | undefined;
}

export interface Connection<Data = unknown> {
  /** Unique across the shards of one process: `<shard>.<n>` (`<shard>.<generation>.<n>` after a SIGHUP roll). */
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
  /** This node's id in the fleet (config nodeId). */
  readonly node: string;
  /** The WebSocket subprotocol selected at the upgrade ('' when the client offered none). */
  readonly protocol: string;
  /** The limits this socket's messages are held to (config limits). */
  readonly limits: { readonly maxPayloadBytes: number; readonly maxMessagesPerSecond: number };
  /**
   * Subscribes this socket to `topic`. On a history topic the result carries
   * the topic's position; with `since` the publications missed after it are
   * delivered first (recovery), and `recovered` says whether that was possible.
   */
  subscribe(topic: string, opts?: { since?: StreamPosition | undefined }): Promise<SubscribeResult>;
  unsubscribe(topic: string): void;
  /**
   * Delivers to every subscriber of `topic` on every node, this socket included
   * if subscribed. On a history topic (or with an idempotency `key`) the
   * publication goes through the broker first and the outcome carries its offset.
   */
  publish(topic: string, data: Payload, isBinary?: boolean, opts?: { key?: string | undefined }): Promise<PublishOutcome>;
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
  /**
   * What subscribers receive for a publication, built once per publication per
   * shard (synchronous). Without it they receive the data as published.
   */
  frame?(pub: PublicationFrame): Payload;
  /**
   * A history topic's stream broke (its history was lost, or a gap could not
   * be filled): `conn` has been unsubscribed from `topic` and should recover
   * (protocol v1 tells the client `{"resync":topic}`).
   */
  resync?(conn: Connection<Data>, topic: string): void;
}

export const HOOKS = ['upgrade', 'open', 'message', 'close', 'stop', 'frame', 'resync'] as const;

/** An identity helper that gives an app object its types. */
export function defineApp<Data = unknown>(app: App<Data>): App<Data> {
  return app;
}
