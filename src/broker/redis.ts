/**
 * The Redis implementation of the Broker (src/broker/broker.ts): a single
 * Redis 7 or a Redis Cluster, through node-redis 6.
 *
 *   publish()/history() ──> publishing link ──EVALSHA──> Redis (one script per call)
 *                                                          │ SPUBLISH (sharded pub/sub)
 *   handler.onPublication <── DeliveryQueue <── subscriber link (RedisSubscriber)
 *
 * Two links (connection sets): publishing and subscribing. Every publish is
 * one EVALSHA written on the publishing link in call order, without an await
 * before the write, so one process's publications on a topic reach Redis, and
 * so every subscriber, in the order publish() was called (on a Cluster one
 * topic always goes to the connection of its slot's master).
 *
 * State: 'up' when both links are ready (and, after a reconnect, every topic
 * is subscribed again); 'down' otherwise. While the publishing link is not
 * ready, publish() and history() reject at once with a retryable
 * SHARDLINE_BROKER_UNAVAILABLE: nothing is queued to be replayed stale.
 * A publish that timed out may still have been applied by Redis: retry it
 * with the same idempotency key.
 *
 * The publish script goes as EVAL (its text each time), never EVALSHA: with
 * EVALSHA, a script cache that is empty on one node (a restarted Redis, a new
 * Cluster master, SCRIPT FLUSH) answers NOSCRIPT to the first publishes, and
 * their EVAL re-sends land after later EVALSHAs that found the script loaded
 * meanwhile (by another node's EVAL): one publisher's order breaks. Seen on
 * the Cluster test before this choice. The cost is ~1 KB more per publish on
 * the wire and a SHA1 of it in Redis (figures in README, bench/broker-redis.ts).
 * history() (order does not matter there) uses EVALSHA, EVAL on NOSCRIPT.
 */

import type { Logger } from 'pino';
import type {
  Broker,
  BrokerHandler,
  BrokerState,
  BrokerStats,
  CloseReport,
  HistoryPage,
  HistoryQuery,
  Publication,
  PublishOptions,
  PublishResult,
} from './broker.js';
import { BrokerError, ErrorCode } from '../errors.js';
import { resolveRedisConfig, type RedisBrokerConfig, type ResolvedRedisConfig } from './redis-config.js';
import { DeliveryQueue } from './delivery-queue.js';
import { decodeEnvelope, envelopeHead, envelopeTail, payloadBytes } from './redis-envelope.js';
import { isNoScript, toBrokerError, unavailable, withTimeout } from './redis-errors.js';
import { createLink, type RedisLink } from './redis-link.js';
import { newEpoch, RedisNames } from './redis-names.js';
import { HISTORY_META_TTL_SEC, HISTORY_SCRIPT, IDEMPOTENCY_TTL_SEC, PUBLISH_SCRIPT } from './redis-scripts.js';
import { RedisSubscriber } from './redis-subscriber.js';

export { HISTORY_META_TTL_SEC, IDEMPOTENCY_TTL_SEC } from './redis-scripts.js';
export type { RedisBrokerConfig } from './redis-config.js';

interface InFlight {
  state: 'pending' | 'ok' | 'failed';
  promise: Promise<unknown>;
}

export class RedisBroker implements Broker {
  readonly kind = 'redis' as const;
  private readonly cfg: ResolvedRedisConfig;
  private readonly names: RedisNames;
  private readonly log: Logger | undefined;
  private readonly pub: RedisLink;
  private readonly sub: RedisSubscriber;
  private readonly deliveries: DeliveryQueue;
  private readonly inflight = new Set<InFlight>();
  private handler: BrokerHandler | undefined;
  private state: BrokerState = 'connecting';
  private live = false;
  private pubReady = false;
  private lastReason = '';
  private closing: Promise<CloseReport> | undefined;
  private counts = { publishFailed: 0, deliveriesDropped: 0, disconnects: 0 };

  constructor(config: RedisBrokerConfig, opts: { logger?: Logger | undefined } = {}) {
    this.cfg = resolveRedisConfig(config);
    this.log = opts.logger;
    this.names = new RedisNames(config.keyPrefix);
    const linkOpts = {
      url: config.url,
      urls: config.urls,
      name: `shardline-${config.nodeId}-pub`.replace(/\s/g, '_'),
      commandTimeoutMs: this.cfg.commandTimeoutMs,
      connectTimeoutMs: this.cfg.connectTimeoutMs,
      queueMaxLength: this.cfg.queueMaxLength,
    };
    this.pub = createLink(linkOpts, (ready, reason) => this.onPubStatus(ready, reason));
    this.deliveries = new DeliveryQueue({
      max: this.cfg.maxPendingDeliveries,
      deliver: (p) => {
        if (this.sub.has(p.topic)) this.handler?.onPublication(p);
      },
      onDrop: () => this.counts.deliveriesDropped++,
      onHandlerError: (err) => this.log?.error({ err }, 'redis broker: onPublication threw'),
    });
    this.sub = new RedisSubscriber({
      names: this.names,
      nodeId: config.nodeId,
      // The dedicated subscriber connection: same settings as the publisher, its own socket(s).
      createLink: (onStatus) => this.pub.duplicate(linkOpts.name.replace(/-pub$/, '-sub'), onStatus),
      sendProbe: (channel) => this.pub.send(channel, ['SPUBLISH', channel, 'probe'], false),
      onPublication: (p) => this.deliveries.push(p),
      onStatus: (_ready, reason) => this.recompute(reason),
      onUndecodable: () => this.counts.deliveriesDropped++,
      probeIntervalMs: this.cfg.probeIntervalMs,
      commandTimeoutMs: this.cfg.commandTimeoutMs,
      log: this.log,
    });
  }

  async start(handler: BrokerHandler): Promise<void> {
    if (this.handler) throw new BrokerError(ErrorCode.BROKER_FAILED, 'redis broker: start() called twice', false);
    this.handler = handler;
    const where = this.cfg.urls ? `Redis Cluster ${this.cfg.urls.join(',')}` : `Redis ${this.cfg.url}`;
    try {
      await withTimeout(
        (async () => {
          // Independent connections: connect both at once (start-up time on a loaded host).
          await Promise.all([this.pub.connect(), this.sub.start()]);
        })(),
        this.cfg.connectTimeoutMs,
        `connect to ${where}`,
      );
    } catch (err) {
      this.pub.destroy();
      void this.sub.close(0);
      const last = this.lastReason ? ` (last: ${this.lastReason})` : '';
      throw unavailable(`redis broker: cannot reach ${where}: ${toBrokerError(err, 'start').message}${last}`);
    }
    this.pubReady = true;
    this.live = true;
    this.recompute('connected');
  }

  subscribe(topics: readonly string[]): Promise<void> {
    if (this.closing) return Promise.reject(closedError());
    return this.sub.subscribe(topics);
  }

  unsubscribe(topics: readonly string[]): Promise<void> {
    if (this.closing) return Promise.resolve();
    return this.sub.unsubscribe(topics);
  }

  publish(topic: string, data: string | Uint8Array, binary: boolean, opts: PublishOptions): Promise<PublishResult> {
    const history = opts.history;
    const refused = this.closing
      ? closedError()
      : !this.pubReady
        ? unavailable('publish: Redis is unreachable')
        : history
          ? policyError(history.size, history.ttlSec)
          : undefined;
    if (refused) {
      this.counts.publishFailed++;
      return Promise.reject(refused);
    }
    const n = this.names.topic(topic);
    const key = opts.idempotencyKey;
    // No await before the send: the command is queued now, in call order.
    const sent = this.evalPublish(n.channel, [
      n.channel,
      n.stream,
      n.meta,
      key !== undefined ? n.result(key) : n.noResult,
      payloadBytes(data),
      envelopeHead(binary, Date.now()),
      envelopeTail(this.cfg.nodeId),
      String(history?.size ?? 0),
      String(history?.ttlSec ?? 0),
      String(HISTORY_META_TTL_SEC),
      String(key !== undefined ? IDEMPOTENCY_TTL_SEC : 0),
      newEpoch(),
    ]);
    const entry: InFlight = { state: 'pending', promise: sent };
    this.inflight.add(entry);
    return sent.then(
      (reply) => {
        entry.state = 'ok';
        this.inflight.delete(entry);
        const [dup, offset, epoch] = reply as [number, number, string];
        return { duplicate: dup === 1, position: history ? { offset: Number(offset), epoch: String(epoch) } : undefined };
      },
      (err: unknown) => {
        entry.state = 'failed';
        this.inflight.delete(entry);
        this.counts.publishFailed++;
        throw toBrokerError(err, 'publish');
      },
    );
  }

  async history(topic: string, query: HistoryQuery): Promise<HistoryPage> {
    if (this.closing) throw closedError();
    if (!this.pubReady) throw unavailable('history: Redis is unreachable');
    const bad = policyError(query.history.size, query.history.ttlSec);
    if (bad) throw bad;
    if (!Number.isSafeInteger(query.since) || query.since < 0 || !Number.isSafeInteger(query.limit) || query.limit < 0) {
      throw new BrokerError(ErrorCode.BROKER_FAILED, 'history: since and limit must be non-negative integers', false);
    }
    const n = this.names.topic(topic);
    let reply: unknown;
    try {
      reply = await this.evalHistory(n.stream, [n.stream, n.meta, String(query.since), String(query.limit), String(HISTORY_META_TTL_SEC), newEpoch()]);
    } catch (err) {
      throw toBrokerError(err, 'history');
    }
    const [top, epochBuf, entries] = reply as [number, Buffer, Array<[Buffer, Buffer[]]>];
    const epoch = epochBuf.toString('utf8');
    const publications: Publication[] = [];
    for (const [, fields] of entries) {
      const pub = fields[1] ? decodeEnvelope(topic, fields[1]) : undefined;
      if (pub) publications.push(pub);
    }
    return { publications, top: { offset: Number(top), epoch } };
  }

  stats(): BrokerStats {
    return { state: this.state, ...this.counts, topics: this.sub.size };
  }

  /** Subscriber restarts so far (liveness probe, short resubscribe). */
  get subscriberRestarts(): number {
    return this.sub.restarts;
  }

  close(deadlineMs: number): Promise<CloseReport> {
    this.closing ??= this.doClose(deadlineMs);
    return this.closing;
  }

  private async doClose(deadlineMs: number): Promise<CloseReport> {
    const started = Date.now();
    const pending = [...this.inflight];
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled(pending.map((e) => e.promise)), new Promise<void>((resolve) => (timer = setTimeout(resolve, deadlineMs)))]);
    clearTimeout(timer);
    const report: CloseReport = {
      publishesFlushed: pending.filter((e) => e.state === 'ok').length,
      publishesFailed: pending.filter((e) => e.state === 'failed').length,
      publishesAbandoned: pending.filter((e) => e.state === 'pending').length,
    };
    // Whatever is left of the deadline (at least a moment) for SUNSUBSCRIBE and QUIT.
    const rest = Math.max(200, deadlineMs - (Date.now() - started));
    this.live = false;
    await this.sub.close(rest);
    await withTimeout(this.pub.close(), rest, 'close').catch(() => undefined);
    this.pub.destroy();
    this.setState('closed', 'closed');
    return report;
  }

  /** The publish script: EVAL, so that no NOSCRIPT re-send can reorder publishes (see the top of this file). */
  private evalPublish(firstKey: string, keysAndArgs: Array<string | Buffer>): Promise<unknown> {
    return this.pub.send(firstKey, ['EVAL', PUBLISH_SCRIPT.source, '4', ...keysAndArgs], false);
  }

  private evalHistory(firstKey: string, keysAndArgs: Array<string | Buffer>): Promise<unknown> {
    const script = HISTORY_SCRIPT;
    return this.pub.send(firstKey, ['EVALSHA', script.sha1, '2', ...keysAndArgs], true).catch((err: unknown) => {
      if (!isNoScript(err)) throw err;
      return this.pub.send(firstKey, ['EVAL', script.source, '2', ...keysAndArgs], true);
    });
  }

  private onPubStatus(ready: boolean, reason: string): void {
    this.lastReason = reason;
    if (!this.live) return;
    this.pubReady = ready && this.pub.ready;
    this.recompute(reason);
  }

  private recompute(reason: string): void {
    if (!this.live) return;
    this.setState(this.pubReady && this.sub.isReady ? 'up' : 'down', reason);
  }

  private setState(state: BrokerState, reason: string): void {
    if (this.state === state) return;
    const was = this.state;
    this.state = state;
    if (state === 'down' && was === 'up') this.counts.disconnects++;
    if (state !== 'connecting') this.log?.[state === 'down' ? 'warn' : 'info']({ state, reason }, `redis broker ${state}`);
    this.handler?.onState(state, { reason });
  }
}

function closedError(): BrokerError {
  return new BrokerError(ErrorCode.BROKER_UNAVAILABLE, 'the broker is closed', false);
}

function policyError(size: number, ttlSec: number): BrokerError | undefined {
  if (!Number.isSafeInteger(size) || size < 1 || !Number.isSafeInteger(ttlSec) || ttlSec < 1) {
    return new BrokerError(ErrorCode.BROKER_FAILED, `history policy: size and ttlSec must be positive integers (got ${size}, ${ttlSec})`, false);
  }
  return undefined;
}
