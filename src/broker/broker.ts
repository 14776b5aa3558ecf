/**
 * The Broker: how a node reaches the other nodes of a fleet. One broker per
 * process, owned by the primary thread (shards reach it over their ports);
 * per-shard connections would multiply every message by the shard count, and
 * one publishing connection is what keeps one publisher's order on a topic.
 *
 * Two implementations sit side by side: `memory` (one process, no dependency,
 * the default) and `redis` (single Redis or Cluster). Only src/broker/ speaks
 * to Redis; the rest of the code never names it.
 *
 * Guarantees every implementation gives:
 * - publish() on a history topic assigns the next offset of that topic
 *   atomically with the append to its history and the delivery to
 *   subscribers: offset order is delivery order, with no gap.
 * - An epoch names the incarnation of a topic's history; it changes whenever
 *   the history is lost (Redis flushed, keys expired, memory broker restarted).
 * - The same idempotency key on a topic, within `idempotencyTtlSec`, publishes
 *   once; the repeat resolves with the first publication's result.
 * - Publications reach `onPublication` only for topics this node subscribed.
 *   Delivery through the broker is at most once: the caller (the node's
 *   topic sequencer) detects gaps by offset and fills them from history().
 * - Nothing blocks forever: every call settles, with a BrokerError when the
 *   broker is unreachable (code SHARDLINE_BROKER_UNAVAILABLE, retryable).
 */

/** A topic's position: the offset of its last publication and its history's incarnation. */
export interface StreamPosition {
  offset: number;
  epoch: string;
}

/** The history rule that matched a topic (config `history`). */
export interface HistoryPolicy {
  /** Publications kept. */
  size: number;
  /** The history expires this long after the topic's last publication. */
  ttlSec: number;
}

export interface Publication {
  topic: string;
  /** Text (a JS string) or bytes. */
  data: string | Uint8Array;
  binary: boolean;
  /** Only on history topics. */
  offset?: number;
  epoch?: string;
  /** The node id of the publisher (a node ignores its own publications coming back). */
  origin: string;
  /** Wall-clock ms at publish (for the pub/sub lag figure). */
  time: number;
}

export interface PublishOptions {
  /** Set when the topic matches a history rule. */
  history?: HistoryPolicy | undefined;
  /** Publishes once within idempotencyTtlSec; a repeat gets the first result. */
  idempotencyKey?: string | undefined;
}

export interface PublishResult {
  /** History topics only. */
  position?: StreamPosition | undefined;
  /** True when the idempotency key was seen: nothing was published now. */
  duplicate: boolean;
}

export interface HistoryQuery {
  history: HistoryPolicy;
  /** Return publications with an offset above this one (0: from the start). */
  since: number;
  /** At most this many (0: only the top position). */
  limit: number;
}

export interface HistoryPage {
  /** In offset order, each with its offset and epoch. */
  publications: Publication[];
  /** The topic's top position when read (atomic with the publications). */
  top: StreamPosition;
}

export type BrokerState = 'connecting' | 'up' | 'down' | 'closed';

export interface BrokerHandler {
  /** A publication for a topic this node subscribed (may be this node's own, see `origin`). */
  onPublication(pub: Publication): void;
  /**
   * The broker's connection state changed. After 'up' following 'down' every
   * subscription has been restored, and publications may have been missed
   * meanwhile: the sequencer re-reads the top of every history topic.
   */
  onState(state: BrokerState, detail: { reason?: string | undefined }): void;
}

export interface BrokerStats {
  state: BrokerState;
  /** Publishes that failed (broker unreachable or an error), over the broker's life. */
  publishFailed: number;
  /** Publications that could not be handed to onPublication in time (dropped, counted). */
  deliveriesDropped: number;
  /** Times the connection was lost. */
  disconnects: number;
  /** Topics subscribed now. */
  topics: number;
}

export interface CloseReport {
  /** Publishes still in flight at close() that completed. */
  publishesFlushed: number;
  /** ... that failed. */
  publishesFailed: number;
  /** ... that were still pending at the close deadline. */
  publishesAbandoned: number;
}

export interface Broker {
  readonly kind: 'memory' | 'redis';
  /** Connects (resolves once usable, or rejects with a clear error at start-up). */
  start(handler: BrokerHandler): Promise<void>;
  /** Subscribes topics (batched by the implementation); resolves once publications flow. */
  subscribe(topics: readonly string[]): Promise<void>;
  unsubscribe(topics: readonly string[]): Promise<void>;
  publish(topic: string, data: string | Uint8Array, binary: boolean, opts: PublishOptions): Promise<PublishResult>;
  /** Reads history and the top position in one atomic step. */
  history(topic: string, query: HistoryQuery): Promise<HistoryPage>;
  stats(): BrokerStats;
  /** Flushes outstanding publishes (at most deadlineMs), unsubscribes, disconnects. Idempotent. */
  close(deadlineMs: number): Promise<CloseReport>;
}
