/**
 * One logical connection to Redis, single node or Cluster, behind the few
 * operations the broker needs. node-redis's client and cluster classes have
 * different call shapes (a cluster routes by a first key); this file is the
 * only place that knows both.
 *
 * Settings pinned for every connection (FLEET-NOTES section 9):
 * - RESP 3, and maintNotifications disabled (a Redis Enterprise feature; on
 *   OSS Redis "auto" only costs a failed handshake command).
 * - disableOfflineQueue: a command issued while reconnecting rejects at once
 *   instead of waiting to be replayed stale after Redis is back.
 * - commandsQueueMaxLength: the queue of commands written or waiting is
 *   bounded; a full queue rejects (counted by the caller).
 * - A per-command reply timeout, so no call waits forever on a stalled Redis.
 *   node-redis's own `commandOptions.timeout` only bounds the wait until the
 *   command is written to the socket (commands-queue.js removes the timer
 *   once written), so a Redis stuck in DEBUG SLEEP or a long script never
 *   times it out: `send` races every reply against its own timer.
 * - Reconnect backoff 50 ms doubling to 1 s, plus 0-100 ms jitter, forever.
 */

import { createClient, createCluster, ErrorReply, RESP_TYPES, type RedisArgument } from 'redis';
import { slotOf } from './redis-names.js';
import { withTimeout } from './redis-errors.js';

export interface LinkOptions {
  url?: string | undefined;
  urls?: readonly string[] | undefined;
  /** CLIENT SETNAME, for `CLIENT LIST` readers. */
  name: string;
  commandTimeoutMs: number;
  connectTimeoutMs: number;
  queueMaxLength: number;
}

/** A sharded pub/sub listener in buffer mode (message and channel as bytes). */
export type ShardListener = (message: Buffer, channel: Buffer) => void;

/** ready: every connection of the link is usable; reason: what changed, for the log. */
export type LinkStatusListener = (ready: boolean, reason: string) => void;

export interface RedisLink {
  readonly cluster: boolean;
  readonly ready: boolean;
  connect(): Promise<void>;
  /** Sends one command to the node owning `firstKey`. `buffers`: bulk strings come back as Buffers. */
  send(firstKey: string, args: RedisArgument[], buffers: boolean): Promise<unknown>;
  /** All channels of one call must share a slot (a Cluster rejects others with CROSSSLOT). */
  sSubscribe(channels: string[], listener: ShardListener): Promise<void>;
  sUnsubscribe(channels: string[], listener: ShardListener): Promise<void>;
  /** Graceful: waits for replies to what was sent. */
  close(): Promise<void>;
  destroy(): void;
  /**
   * Picks, from the names `candidate(0)`, `candidate(1)`, ..., one per
   * connection of this link: the first name of each master's slots on a
   * Cluster, `candidate(0)` on a single Redis.
   */
  perConnection(candidate: (i: number) => string): string[];
  /** A new link with the same settings, its own connections and its own status listener. */
  duplicate(name: string, onStatus: LinkStatusListener): RedisLink;
}

export function reconnectDelayMs(retries: number): number {
  return Math.min(50 * 2 ** Math.min(retries, 5), 1000) + Math.floor(Math.random() * 100);
}

function clientOptions(o: LinkOptions) {
  return {
    RESP: 3 as const,
    name: o.name,
    maintNotifications: 'disabled' as const,
    disableOfflineQueue: true,
    commandsQueueMaxLength: o.queueMaxLength,
    commandOptions: { timeout: o.commandTimeoutMs },
    socket: { connectTimeout: o.connectTimeoutMs, reconnectStrategy: reconnectDelayMs },
  };
}

/** Bulk strings as Buffers: history payloads are bytes. */
const BUFFERS = { typeMapping: { [RESP_TYPES.BLOB_STRING]: Buffer } };

export function createLink(o: LinkOptions, onStatus: LinkStatusListener): RedisLink {
  return o.urls && o.urls.length > 0 ? new ClusterLink(o, onStatus) : new SingleLink(o, onStatus);
}

class SingleLink implements RedisLink {
  readonly cluster = false;
  private readonly client;
  private readonly opts: LinkOptions;
  private readonly onStatus: LinkStatusListener;

  constructor(o: LinkOptions, onStatus: LinkStatusListener) {
    this.opts = o;
    this.onStatus = onStatus;
    this.client = createClient({ url: o.url, ...clientOptions(o) });
    // An 'error' listener is mandatory: without one node-redis's EventEmitter throws (socket.io #425).
    this.client.on('error', (err: Error) => this.onStatus(this.client.isReady, `error: ${err.message}`));
    this.client.on('reconnecting', () => this.onStatus(false, 'reconnecting'));
    this.client.on('ready', () => this.onStatus(true, 'ready'));
    this.client.on('end', () => this.onStatus(false, 'end'));
  }

  get ready(): boolean {
    return this.client.isReady;
  }

  async connect(): Promise<void> {
    await this.client.connect();
  }

  send(_firstKey: string, args: RedisArgument[], buffers: boolean): Promise<unknown> {
    return withTimeout(this.client.sendCommand(args, buffers ? BUFFERS : undefined), this.opts.commandTimeoutMs, String(args[0]));
  }

  sSubscribe(channels: string[], listener: ShardListener): Promise<void> {
    return this.client.sSubscribe(channels, listener, true);
  }

  sUnsubscribe(channels: string[], listener: ShardListener): Promise<void> {
    return this.client.sUnsubscribe(channels, listener, true);
  }

  async close(): Promise<void> {
    if (this.client.isOpen) await this.client.close();
  }

  destroy(): void {
    this.client.destroy();
  }

  perConnection(candidate: (i: number) => string): string[] {
    return [candidate(0)];
  }

  duplicate(name: string, onStatus: LinkStatusListener): RedisLink {
    return new SingleLink({ ...this.opts, name }, onStatus);
  }
}

/**
 * A Cluster: node-redis keeps one client per master (plus one sharded pub/sub
 * client per master it subscribed on) and follows MOVED and slot moves
 * (`sharded-channel-moved`: it re-subscribes the channel on the new owner).
 * Readiness is tracked per node address from the node events: the link is
 * ready when no node it has seen is reconnecting.
 */
class ClusterLink implements RedisLink {
  readonly cluster = true;
  private readonly client;
  private readonly opts: LinkOptions;
  private readonly onStatus: LinkStatusListener;
  private readonly downNodes = new Set<string>();

  constructor(o: LinkOptions, onStatus: LinkStatusListener) {
    this.opts = o;
    this.onStatus = onStatus;
    const { RESP, ...defaults } = clientOptions(o);
    this.client = createCluster({
      rootNodes: (o.urls ?? []).map((url) => ({ url })),
      defaults,
      RESP,
      commandOptions: defaults.commandOptions,
    });
    const key = (info: { host?: string; port?: number }) => `${info.host}:${info.port}`;
    const report = (reason: string) => this.onStatus(this.ready, reason);
    this.client.on('error', (err: Error) => report(`error: ${err.message}`));
    this.client.on('node-error', (err: Error, info: { host?: string; port?: number }) => report(`node ${key(info)}: ${err.message}`));
    this.client.on('node-reconnecting', (info: { host?: string; port?: number }) => {
      this.downNodes.add(key(info));
      report(`node ${key(info)} reconnecting`);
    });
    this.client.on('node-ready', (info: { host?: string; port?: number }) => {
      this.downNodes.delete(key(info));
      report(`node ${key(info)} ready`);
    });
    this.client.on('sharded-channel-moved-error', (err: Error, channel: string) => report(`channel ${channel} moved, resubscribe failed: ${err.message}`));
    this.client.on('disconnect', () => report('disconnect'));
  }

  get ready(): boolean {
    return this.client.isReady && this.downNodes.size === 0;
  }

  async connect(): Promise<void> {
    await this.client.connect();
    // Every master's client connected now, so `send` never starts on the routed (reordering) path.
    await Promise.all(this.client.masters.map((m) => this.client.nodeClient(m)));
    this.onStatus(this.ready, 'ready');
  }

  /**
   * Order: node-redis's routed path awaits before it queues the command, and
   * the number of turns varies (a node client still connecting, a policy
   * lookup), so two publishes on one topic could swap. When the slot's master
   * client is ready it is called directly: queued now, in call order. A MOVED
   * or ASK (a slot moving) goes back through the routed path, which follows it.
   */
  send(firstKey: string, args: RedisArgument[], buffers: boolean): Promise<unknown> {
    return withTimeout(this.sendUntimed(firstKey, args, buffers), this.opts.commandTimeoutMs, String(args[0]));
  }

  private sendUntimed(firstKey: string, args: RedisArgument[], buffers: boolean): Promise<unknown> {
    const opts = buffers ? BUFFERS : undefined;
    const direct = this.client.slots[slotOf(firstKey)]?.master.client;
    if (!direct?.isReady) return this.client.sendCommand(firstKey, false, args, opts);
    return direct.sendCommand(args, opts).catch((err: unknown) => {
      if (err instanceof ErrorReply && /^(MOVED|ASK) /.test(err.message)) return this.client.sendCommand(firstKey, false, args, opts);
      throw err;
    });
  }

  sSubscribe(channels: string[], listener: ShardListener): Promise<void> {
    return this.client.sSubscribe(channels, listener, true);
  }

  sUnsubscribe(channels: string[], listener: ShardListener): Promise<void> {
    return this.client.sUnsubscribe(channels, listener, true);
  }

  async close(): Promise<void> {
    if (this.client.isOpen) await this.client.close();
  }

  destroy(): void {
    this.client.destroy();
  }

  perConnection(candidate: (i: number) => string): string[] {
    const want = new Set(this.client.masters.map((m) => m.address));
    const out: string[] = [];
    // 3 masters need a few names; 16,384 slots bound the search for any Cluster.
    for (let i = 0; want.size > 0 && i < 100_000; i++) {
      const name = candidate(i);
      const master = this.client.slots[slotOf(name)]?.master;
      if (master && want.delete(master.address)) out.push(name);
    }
    return out;
  }

  duplicate(name: string, onStatus: LinkStatusListener): RedisLink {
    return new ClusterLink({ ...this.opts, name }, onStatus);
  }
}
