/**
 * The shard's side of publish and subscribe across the node and the fleet.
 *
 * Publish, two paths:
 *   - fast: a topic with no history and no idempotency key is written to this
 *     shard's subscribers at once, then handed to the primary (other shards,
 *     then the broker): one publisher's messages keep their order everywhere;
 *   - through the broker: a history topic (the broker assigns the offset) or
 *     a publish with a key (the broker deduplicates) goes to the primary
 *     first; the publication comes back to every shard, this one included, in
 *     offset order, and then the outcome reaches the caller.
 * Subscribe: plain topics join the registry at once; history topics follow
 * recovery.ts. Every delivery is framed once per publication (App.frame).
 */
import type { App, Payload, PubSubError, PublicationFrame, PublishOutcome, StreamPosition, SubscribeResult } from '../app.js';
import type { HistoryPage } from '../broker/broker.js';
import { HistoryRules } from '../broker/history-rules.js';
import type { ResolvedConfig } from '../config.js';
import { TOPIC_RULE, isValidTopic } from '../broker/topic.js';
import { ErrorCode, type WireError } from '../errors.js';
import type { FromShard, PublishPayload, ToShard } from '../protocol.js';
import type { SocketConnection } from './connection.js';
import { Catchup, isRecovered, replay } from './recovery.js';
import type { TopicRegistry } from './topics.js';

type Post = (msg: FromShard, transfer?: ArrayBuffer[]) => void;
type HistoryOutcome = { ok: true; page: HistoryPage } | { ok: false; error: WireError };

function pubsubError(error: WireError): PubSubError {
  return { code: error.code, message: error.message, retryable: error.retryable ?? false };
}

export class ShardPubSub {
  private readonly rules: HistoryRules;
  private readonly viaPrimary: boolean;
  private nextId = 0;
  private readonly publishes = new Map<number, (o: PublishOutcome) => void>();
  private readonly reads = new Map<number, (o: HistoryOutcome) => void>();
  stopped = false;

  constructor(
    private readonly shard: number,
    private readonly config: ResolvedConfig,
    private readonly registry: TopicRegistry,
    private readonly app: () => App,
    private readonly post: Post,
  ) {
    this.rules = new HistoryRules(config.history);
    this.viaPrimary = config.shards > 1 || config.broker.type !== 'memory';
  }

  topicError(topic: unknown): PubSubError | null {
    return isValidTopic(topic) ? null : { code: ErrorCode.TOPIC_INVALID, message: TOPIC_RULE, retryable: false };
  }

  /** What subscribers receive for a publication (App.frame, once per publication per shard). */
  frame(pub: PublicationFrame): { payload: string | Uint8Array | ArrayBuffer; binary: boolean } {
    const framer = this.app().frame;
    if (framer === undefined) return { payload: pub.data, binary: pub.binary };
    const payload = framer(pub);
    return { payload, binary: typeof payload !== 'string' };
  }

  /** A publication from the primary (another shard, the broker, or this shard's own through the broker). */
  deliver(msg: Extract<ToShard, { type: 'publish' }>): void {
    const f = this.frame({ topic: msg.topic, data: msg.payload, binary: msg.binary, offset: msg.offset, epoch: msg.epoch });
    this.registry.deliver(msg.topic, f.payload, f.binary, msg.offset);
  }

  publish(topic: string, data: Payload, binary: boolean, key: string | undefined): Promise<PublishOutcome> {
    const bad = this.topicError(topic);
    if (bad !== null) return Promise.resolve({ ok: false, error: bad });
    if (this.stopped) return Promise.resolve({ ok: false, error: { code: ErrorCode.PUBLISH_FAILED, message: 'the shard has stopped', retryable: true } });
    if (key === undefined && this.rules.policyFor(topic) === null) {
      const f = this.frame({ topic, data: data instanceof ArrayBuffer ? new Uint8Array(data) : data, binary });
      this.registry.deliver(topic, f.payload, f.binary);
      if (this.viaPrimary) {
        const { payload, transfer } = forPort(data);
        this.post({ type: 'publish', shard: this.shard, topic, payload, binary }, transfer);
      }
      return Promise.resolve({ ok: true, duplicate: false });
    }
    const { payload, transfer } = forPort(data);
    const id = ++this.nextId;
    this.post({ type: 'broker-publish', shard: this.shard, id, topic, payload, binary, key }, transfer);
    return new Promise((resolve) => this.publishes.set(id, resolve));
  }

  onPublishReply(msg: Extract<ToShard, { type: 'broker-reply' }>): void {
    const resolve = this.publishes.get(msg.id);
    if (resolve === undefined) return;
    this.publishes.delete(msg.id);
    resolve(msg.ok ? { ok: true, position: msg.position, duplicate: msg.duplicate } : { ok: false, error: pubsubError(msg.error) });
  }

  onHistoryReply(msg: Extract<ToShard, { type: 'history-reply' }>): void {
    const resolve = this.reads.get(msg.id);
    if (resolve === undefined) return;
    this.reads.delete(msg.id);
    resolve(msg.ok ? { ok: true, page: msg.page } : { ok: false, error: msg.error });
  }

  private read(topic: string, since: number, limit: number): Promise<HistoryOutcome> {
    const id = ++this.nextId;
    this.post({ type: 'history', shard: this.shard, id, topic, since, limit });
    return new Promise((resolve) => this.reads.set(id, resolve));
  }

  async subscribe(conn: SocketConnection, topic: string, since: StreamPosition | undefined): Promise<SubscribeResult> {
    const bad = this.topicError(topic);
    if (bad !== null) return { ok: false, error: bad };
    const policy = this.rules.policyFor(topic);
    if (policy === null) {
      this.registry.subscribe(conn, topic);
      // Across nodes, the reply must mean "publications reach you from now on":
      // wait until the node's broker subscription is live (at once if it already
      // is). If the broker is down the local subscription stands; the broker
      // resubscribes every topic when it is back.
      if (this.config.broker.type !== 'memory') await this.read(topic, 0, 0);
      return { ok: true };
    }
    const c = new Catchup(conn, topic);
    this.registry.subscribeCatchup(c);
    const outcome = await this.read(topic, since?.offset ?? 0, since === undefined ? 0 : policy.size);
    if (!outcome.ok) {
      this.registry.unsubscribe(conn, topic);
      return { ok: false, error: pubsubError(outcome.error) };
    }
    const { page } = outcome;
    const recovered = since === undefined ? undefined : isRecovered(since, page);
    if (recovered === true && !(await replay(conn, page, (p) => this.frame(p), this.config.backpressure.maxQueueBytes))) {
      this.registry.unsubscribe(conn, topic);
      return { ok: false, error: { code: ErrorCode.PUBLISH_FAILED, message: 'the socket closed or stopped reading during recovery', retryable: true } };
    }
    // The app replies in its continuation (a microtask); the held publications follow one turn later.
    setImmediate(() => this.registry.release(c, page.top.offset));
    return { ok: true, position: page.top, recovered };
  }

  /** The primary says a history topic's stream broke: its members are unsubscribed and told to recover. */
  resync(topic: string): void {
    const hook = this.app().resync;
    for (const conn of this.registry.members(topic)) {
      conn.unsubscribe(topic);
      if (hook !== undefined) hook(conn, topic);
    }
  }

  /** The shard stopped: calls still waiting get a retryable error. */
  abandonAll(): void {
    this.stopped = true;
    const error: PubSubError = { code: ErrorCode.PUBLISH_FAILED, message: 'the shard stopped', retryable: true };
    for (const resolve of this.publishes.values()) resolve({ ok: false, error });
    for (const resolve of this.reads.values()) resolve({ ok: false, error: { ...error } });
    this.publishes.clear();
    this.reads.clear();
  }
}

/** A payload the port can carry: strings as they are, bytes copied into a buffer of their own (transferred: the caller may reuse its bytes). */
function forPort(data: Payload): { payload: PublishPayload; transfer: ArrayBuffer[] | undefined } {
  if (typeof data === 'string') return { payload: data, transfer: undefined };
  const view = data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const copy = view.slice();
  return { payload: copy, transfer: [copy.buffer] };
}
