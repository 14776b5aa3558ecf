/**
 * The memory broker: one process, no dependency, the default. It gives the
 * Broker contract within one node: offsets, epochs, history with its size and
 * TTL, idempotent publishes. There are no other nodes, so nothing comes back
 * through onPublication: the node delivers its own publications itself.
 *
 * The epoch is drawn at start: a restarted process has lost its history, and
 * a client recovering from before the restart is told `recovered: false`.
 */
import { randomBytes } from 'node:crypto';
import type {
  Broker,
  BrokerHandler,
  BrokerStats,
  CloseReport,
  HistoryPage,
  HistoryQuery,
  PublishOptions,
  PublishResult,
  Publication,
  StreamPosition,
} from './broker.js';

/** How long a topic's position (top offset) outlives its history, as Redis's meta TTL (ms). */
const META_TTL_MS = 30 * 24 * 3600 * 1000;
const SWEEP_MS = 60_000;

interface TopicHistory {
  top: number;
  /** Oldest first; at most the policy's size. */
  entries: Publication[];
  /** The entries expire at this time (ms); the top at metaExpiresAt. */
  expiresAt: number;
  metaExpiresAt: number;
}

export class MemoryBroker implements Broker {
  readonly kind = 'memory' as const;
  private readonly epoch = randomBytes(6).toString('hex');
  private readonly topics = new Map<string, TopicHistory>();
  private readonly results = new Map<string, { result: PublishResult; expiresAt: number }>();
  private readonly subscribed = new Set<string>();
  private sweeper: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(
    private readonly nodeId: string,
    private readonly idempotencyMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  async start(_handler: BrokerHandler): Promise<void> {
    this.sweeper = setInterval(() => this.sweep(), SWEEP_MS).unref();
  }

  async subscribe(topics: readonly string[]): Promise<void> {
    for (const t of topics) this.subscribed.add(t);
  }

  async unsubscribe(topics: readonly string[]): Promise<void> {
    for (const t of topics) this.subscribed.delete(t);
  }

  async publish(topic: string, data: string | Uint8Array, binary: boolean, opts: PublishOptions): Promise<PublishResult> {
    const now = this.now();
    const idemKey = opts.idempotencyKey === undefined ? null : `${topic}\u0000${opts.idempotencyKey}`;
    if (idemKey !== null) {
      const seen = this.results.get(idemKey);
      if (seen !== undefined && seen.expiresAt > now) return { ...seen.result, duplicate: true };
    }
    let position: StreamPosition | undefined;
    if (opts.history !== undefined) {
      const h = this.live(topic, now) ?? { top: 0, entries: [], expiresAt: 0, metaExpiresAt: 0 };
      this.topics.set(topic, h);
      h.top++;
      position = { offset: h.top, epoch: this.epoch };
      h.entries.push({ topic, data, binary, offset: h.top, epoch: this.epoch, origin: this.nodeId, time: now });
      if (h.entries.length > opts.history.size) h.entries.splice(0, h.entries.length - opts.history.size);
      h.expiresAt = now + opts.history.ttlSec * 1000;
      h.metaExpiresAt = now + META_TTL_MS;
    }
    const result: PublishResult = { position, duplicate: false };
    if (idemKey !== null) this.results.set(idemKey, { result, expiresAt: now + this.idempotencyMs });
    return result;
  }

  async history(topic: string, query: HistoryQuery): Promise<HistoryPage> {
    const h = this.live(topic, this.now());
    const top = { offset: h?.top ?? 0, epoch: this.epoch };
    if (h === undefined || query.limit === 0) return { publications: [], top };
    const publications: Publication[] = [];
    for (const p of h.entries) {
      if ((p.offset ?? 0) <= query.since) continue;
      publications.push(p);
      if (publications.length >= query.limit) break;
    }
    return { publications, top };
  }

  /** The topic's record, with expired entries (and an expired top) dropped. */
  private live(topic: string, now: number): TopicHistory | undefined {
    const h = this.topics.get(topic);
    if (h === undefined) return undefined;
    if (h.metaExpiresAt <= now) {
      this.topics.delete(topic);
      return undefined;
    }
    if (h.expiresAt <= now) h.entries = [];
    return h;
  }

  private sweep(): void {
    const now = this.now();
    for (const [k, v] of this.results) if (v.expiresAt <= now) this.results.delete(k);
    for (const topic of this.topics.keys()) this.live(topic, now);
  }

  stats(): BrokerStats {
    return { state: this.closed ? 'closed' : 'up', publishFailed: 0, deliveriesDropped: 0, disconnects: 0, topics: this.subscribed.size };
  }

  async close(_deadlineMs: number): Promise<CloseReport> {
    this.closed = true;
    if (this.sweeper !== null) clearInterval(this.sweeper);
    return { publishesFlushed: 0, publishesFailed: 0, publishesAbandoned: 0 };
  }
}
