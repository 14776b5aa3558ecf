/**
 * The primary's fleet wiring: it creates the node's broker, routes the
 * shards' pub/sub messages to it (src/primary/broker-host.ts), serves the
 * HTTP publish API and the standalone publish() of this thread, and closes
 * the broker last in a drain (after every shard and stop() hook).
 */
import type { Server as HttpServer } from 'node:http';
import type { PublishResult } from '../broker/broker.js';
import { createBroker } from '../broker/create.js';
import { setPublishHook } from '../broker/publish.js';
import type { ResolvedConfig } from '../config.js';
import { BrokerError, ErrorCode, toWire, type WireError } from '../errors.js';
import type { FromShard, ToShard } from '../protocol.js';
import { BrokerHost, type ShardLink } from './broker-host.js';
import { startApi } from './http-api.js';
import type { Logger } from './logger.js';

/** How long the broker may take to flush outstanding publishes at the end of a drain. */
const BROKER_CLOSE_MS = 2_000;

const notStarted = { code: ErrorCode.BROKER_UNAVAILABLE, message: 'the broker is not started', retryable: true };

export class Fleet {
  /** Resolves once the broker is connected (or failed: then `fail` was called). */
  readonly ready: Promise<void>;
  /** What the broker did by the end (set by close()). */
  report: Record<string, unknown> | undefined;
  private host: BrokerHost | null = null;
  private api: HttpServer | null = null;
  private closing = false;

  constructor(
    private readonly config: ResolvedConfig,
    private readonly log: Logger,
    link: ShardLink,
    private readonly fail: (error: WireError) => void,
    /** Waits until the server is ready (publishes from this thread wait for it). */
    private readonly serverReady: () => Promise<unknown>,
  ) {
    this.ready = createBroker(config, log)
      .then(async (broker) => {
        const host = new BrokerHost(broker, config, log, link);
        await host.start();
        this.host = host;
        log.info({ broker: broker.kind, nodeId: config.nodeId, historyRules: config.history.length }, 'broker ready');
      })
      .catch((err: unknown) => {
        const wire = toWire(err);
        log.error({ code: wire.code }, wire.message);
        fail(wire);
      });
    setPublishHook(async (topic, data, opts) => {
      try {
        const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : data;
        const r = await this.publish(topic, bytes, { binary: opts.binary ?? typeof data !== 'string', key: opts.key });
        return { ok: true, position: r.position, duplicate: r.duplicate };
      } catch (err) {
        const wire = toWire(err);
        return { ok: false, error: { code: wire.code, message: wire.message, retryable: wire.retryable ?? false } };
      }
    });
  }

  /**
   * A shard's pub/sub message; `key` identifies the shard thread (unique
   * among live threads, also during a roll). Returns false for other messages.
   */
  onShardMessage(key: number, msg: FromShard, reply: (msg: ToShard) => void): boolean {
    switch (msg.type) {
      case 'publish':
        this.host?.forward(msg.topic, msg.payload, msg.binary);
        return true;
      case 'broker-publish':
        if (this.host === null) reply({ type: 'broker-reply', id: msg.id, ok: false, error: notStarted });
        else this.host.publishFor(key, msg.id, msg.topic, msg.payload, msg.binary, msg.key);
        return true;
      case 'interest':
        this.host?.setInterest(key, msg.topic, msg.on);
        return true;
      case 'history':
        if (this.host === null) reply({ type: 'history-reply', id: msg.id, ok: false, error: notStarted });
        else this.host.historyFor(key, msg.id, msg.topic, msg.since, msg.limit);
        return true;
      default:
        return false;
    }
  }

  /** A shard thread exited: its interest goes with it. */
  dropShard(key: number): void {
    this.host?.dropShard(key);
  }

  /**
   * Publishes from the primary thread (the standalone publish(), the HTTP API):
   * through the broker, then to every subscriber on every node.
   */
  async publish(topic: string, data: string | Uint8Array, opts: { binary?: boolean; key?: string | undefined } = {}): Promise<PublishResult> {
    await this.serverReady();
    if (this.host === null) throw new BrokerError(ErrorCode.BROKER_UNAVAILABLE, 'the broker is not started', true);
    return this.host.publish(topic, data, opts.binary ?? false, opts.key);
  }

  /** Starts the HTTP publish API (api.port), once the server is ready. */
  async openApi(): Promise<void> {
    if (this.config.api.port === 0) return;
    try {
      const api = await startApi(this.config.api, (topic, data, key) => this.publish(topic, data, { key }));
      this.api = api.server;
      if (this.closing) api.server.close();
      this.log.info({ port: api.port, host: this.config.api.host }, 'publish API listening');
    } catch (err) {
      const wire = toWire(err);
      this.log.error({ code: wire.code, port: this.config.api.port }, `publish API cannot listen: ${wire.message}`);
      this.fail({ code: ErrorCode.LISTEN_FAILED, message: `the publish API cannot listen on ${this.config.api.host}:${this.config.api.port}` });
    }
  }

  /** The end of a drain: in-flight API requests finish, then outstanding publishes are flushed and the broker disconnects. */
  async close(): Promise<void> {
    this.closing = true;
    if (this.api !== null) await new Promise((resolve) => this.api?.close(resolve));
    await this.ready;
    if (this.host === null) return;
    const closed = await this.host.broker.close(BROKER_CLOSE_MS);
    this.report = { ...this.host.report(), ...closed };
  }
}
