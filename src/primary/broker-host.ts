/**
 * The primary's side of the fleet: it owns the node's one Broker and routes
 * between it and the shards.
 *
 *   shard ──publish (no history, no key)──► other shards now; broker (other nodes) after
 *   shard ──broker-publish──► broker (offset, idempotency) ──► sequencer ──► every shard; reply to the shard
 *   shard ──interest on/off──► refcount over shards ──► broker subscribe/unsubscribe, batched per turn
 *   shard ──history──► (once the topic's subscription is live) broker.history ──► history-reply
 *   broker ──publication──► sequencer (history topics: offset order, gaps filled) or every shard
 *
 * Interest: the node subscribes to a topic at the broker only while one of its
 * shards has a subscriber. A recovery reads history only once that
 * subscription is live, so a publication cannot fall between the history read
 * and the live stream (the shard buffers live ones meanwhile and merges).
 *
 * Broker down: local delivery goes on (the fast path never waits for it);
 * what could not cross nodes is counted; history publishes and recoveries get
 * a retryable error; when the broker is back the sequencer re-reads every
 * history topic from its last offset.
 */
import type { Broker, BrokerHandler, BrokerState, HistoryPage, Publication, PublishResult } from '../broker/broker.js';
import { HistoryRules } from '../broker/history-rules.js';
import { isValidTopic, topicError } from '../broker/topic.js';
import type { ResolvedConfig } from '../config.js';
import { toWire } from '../errors.js';
import type { PublishPayload, ToShard } from '../protocol.js';
import type { Logger } from './logger.js';
import { Sequencer } from './sequencer.js';

export interface ShardLink {
  /** Posts to every live shard. */
  broadcast(msg: ToShard): void;
  /** Posts to one shard (if it is still there). */
  send(shard: number, msg: ToShard): void;
}

export interface FleetCounters {
  /** Fast-path publications that could not be handed to the broker (they reached this node's subscribers only). */
  crossNodeFailed: number;
  /** Publications from other nodes delivered here. */
  received: number;
  publishesFailed: number;
}

export class BrokerHost implements BrokerHandler {
  readonly rules: HistoryRules;
  readonly sequencer: Sequencer;
  readonly counters: FleetCounters = { crossNodeFailed: 0, received: 0, publishesFailed: 0 };
  private readonly interest = new Map<string, Set<number>>();
  /** Topics subscribed (or being subscribed) at the broker, with the promise of that subscription. */
  private readonly live = new Map<string, Promise<void>>();
  private readonly toSubscribe = new Map<string, { resolve: () => void; reject: (e: unknown) => void }>();
  private readonly toUnsubscribe = new Set<string>();
  private flushScheduled = false;
  private state: BrokerState = 'connecting';
  private wasDown = false;
  private lastCrossNodeWarn = 0;
  private warnedCrossNode = 0;

  constructor(
    readonly broker: Broker,
    private readonly config: ResolvedConfig,
    private readonly log: Logger,
    private readonly shards: ShardLink,
  ) {
    this.rules = new HistoryRules(config.history);
    this.sequencer = new Sequencer({
      deliver: (pub) => this.deliver(pub),
      resync: (topic) => this.shards.broadcast({ type: 'resync', topic }),
      policy: (topic) => this.rules.policyFor(topic),
      read: (topic, since, limit) => this.readHistory(topic, since, limit),
      log: (level, msg, fields) => this.log[level](fields, msg),
    });
  }

  start(): Promise<void> {
    return this.broker.start(this);
  }

  // ---- from the broker ------------------------------------------------------

  onPublication(pub: Publication): void {
    if (pub.offset !== undefined) {
      this.sequencer.accept(pub); // this node's own copy is a duplicate by offset
      return;
    }
    if (pub.origin === this.config.nodeId) return; // delivered locally when it was made
    this.counters.received++;
    this.deliver(pub);
  }

  onState(state: BrokerState, detail: { reason?: string | undefined }): void {
    const before = this.state;
    this.state = state;
    if (state === 'down') {
      this.wasDown = true;
      this.log.warn({ broker: this.broker.kind, reason: detail.reason }, 'broker down: local delivery goes on, cross-node delivery and history wait');
    } else if (state === 'up' && before !== 'up') {
      this.log.info({ broker: this.broker.kind, recovered: this.wasDown }, 'broker up');
      if (this.wasDown) this.sequencer.recheckAll();
      this.wasDown = false;
    }
  }

  private deliver(pub: Publication): void {
    this.shards.broadcast({ type: 'publish', topic: pub.topic, payload: pub.data, binary: pub.binary, offset: pub.offset, epoch: pub.epoch });
  }

  // ---- from the shards -------------------------------------------------------

  setInterest(shard: number, topic: string, on: boolean): void {
    let shards = this.interest.get(topic);
    if (on) {
      if (shards === undefined) this.interest.set(topic, (shards = new Set()));
      shards.add(shard);
      this.ensureSubscribed(topic);
    } else if (shards !== undefined) {
      shards.delete(shard);
      if (shards.size === 0) {
        this.interest.delete(topic);
        this.toUnsubscribe.add(topic);
        this.scheduleFlush();
      }
    }
  }

  /** A shard exited: its interest goes with it. */
  dropShard(shard: number): void {
    for (const topic of [...this.interest.keys()]) this.setInterest(shard, topic, false);
  }

  private ensureSubscribed(topic: string): Promise<void> {
    this.toUnsubscribe.delete(topic);
    const known = this.live.get(topic);
    if (known !== undefined) return known;
    const p = new Promise<void>((resolve, reject) => this.toSubscribe.set(topic, { resolve, reject }));
    p.catch(() => this.live.delete(topic)); // a later subscriber tries again
    this.live.set(topic, p);
    this.scheduleFlush();
    return p;
  }

  /** SUBSCRIBE and UNSUBSCRIBE go out in one batch per turn of the event loop. */
  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      const subs = [...this.toSubscribe];
      this.toSubscribe.clear();
      const unsubs = [...this.toUnsubscribe].filter((t) => !this.interest.has(t));
      this.toUnsubscribe.clear();
      if (subs.length > 0) {
        this.broker.subscribe(subs.map(([t]) => t)).then(
          () => {
            for (const [, d] of subs) d.resolve();
          },
          (err: unknown) => {
            this.log.warn({ topics: subs.length, code: toWire(err).code }, 'broker subscribe failed');
            for (const [, d] of subs) d.reject(err);
          },
        );
      }
      if (unsubs.length > 0) {
        for (const t of unsubs) {
          this.live.delete(t);
          this.sequencer.forget(t);
        }
        this.broker.unsubscribe(unsubs).catch((err: unknown) => this.log.warn({ topics: unsubs.length, code: toWire(err).code }, 'broker unsubscribe failed'));
      }
    });
  }

  /** Fast path: already delivered on this node; other nodes get it through the broker. */
  forward(topic: string, payload: PublishPayload, binary: boolean): void {
    if (this.broker.kind === 'memory') return;
    this.broker.publish(topic, payload, binary, {}).catch((err: unknown) => {
      this.counters.crossNodeFailed++;
      this.warnCrossNode(toWire(err).code);
    });
  }

  /** Never silent: one log line per second at most, with how many publications did not cross nodes since the last one. */
  private warnCrossNode(code: string): void {
    const now = Date.now();
    if (now - this.lastCrossNodeWarn < 1000) return;
    this.log.warn(
      { code, crossNodeFailed: this.counters.crossNodeFailed - this.warnedCrossNode, crossNodeFailedTotal: this.counters.crossNodeFailed },
      'publications reached this node only: the broker did not take them',
    );
    this.lastCrossNodeWarn = now;
    this.warnedCrossNode = this.counters.crossNodeFailed;
  }

  /**
   * A publication that needs the broker first (history topic or idempotency
   * key): published, then delivered to this node's shards (in offset order on
   * a history topic). A duplicate key publishes nothing and returns the first result.
   */
  async publish(topic: string, payload: PublishPayload, binary: boolean, key: string | undefined): Promise<PublishResult> {
    if (!isValidTopic(topic)) throw topicError();
    const policy = this.rules.policyFor(topic);
    let result: PublishResult;
    try {
      result = await this.broker.publish(topic, payload, binary, { history: policy ?? undefined, idempotencyKey: key });
    } catch (err) {
      this.counters.publishesFailed++;
      throw err;
    }
    if (result.duplicate) return result;
    const pub: Publication = { topic, data: payload, binary, origin: this.config.nodeId, time: Date.now() };
    if (result.position === undefined) this.deliver(pub);
    // No local subscriber: nothing to deliver, and no position to track here.
    else if (this.interest.has(topic)) this.sequencer.accept({ ...pub, offset: result.position.offset, epoch: result.position.epoch });
    return result;
  }

  /** A shard's publish request: the reply follows the delivery on the same port, so the publisher sees its publication first. */
  publishFor(shard: number, id: number, topic: string, payload: PublishPayload, binary: boolean, key: string | undefined): void {
    this.publish(topic, payload, binary, key).then(
      (r) => this.shards.send(shard, { type: 'broker-reply', id, ok: true, position: r.position, duplicate: r.duplicate }),
      (err: unknown) => this.shards.send(shard, { type: 'broker-reply', id, ok: false, error: toWire(err) }),
    );
  }

  /** A shard's history request: answered once the node's subscription to the topic is live. */
  historyFor(shard: number, id: number, topic: string, since: number, limit: number): void {
    const subscribed = this.live.get(topic) ?? this.ensureSubscribed(topic);
    subscribed
      .then(() => this.readHistory(topic, since, limit))
      .then(
        (page) => this.shards.send(shard, { type: 'history-reply', id, ok: true, page }),
        (err: unknown) => this.shards.send(shard, { type: 'history-reply', id, ok: false, error: toWire(err) }),
      );
  }

  private readHistory(topic: string, since: number, limit: number): Promise<HistoryPage> {
    const history = this.rules.policyFor(topic);
    if (history === null) return Promise.resolve({ publications: [], top: { offset: 0, epoch: '' } });
    return this.broker.history(topic, { history, since, limit });
  }

  report(): Record<string, unknown> {
    const b = this.broker.stats();
    return {
      broker: b.state,
      brokerDisconnects: b.disconnects,
      brokerPublishFailed: b.publishFailed,
      deliveriesDropped: b.deliveriesDropped,
      ...this.counters,
      ...this.sequencer.stats,
    };
  }
}
