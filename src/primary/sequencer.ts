/**
 * The node's topic sequencer: every publication of a history topic reaches
 * this node's shards once, in offset order, with no gap.
 *
 * Publications arrive from two sources: the broker's subscription (other
 * nodes' publications, and this node's own coming back) and this node's own
 * publish results. Broker pub/sub is at most once (Redis drops what it
 * publishes while a subscriber reconnects), so the sequencer tracks the last
 * offset delivered per topic and:
 *   - offset <= last (same epoch): a duplicate (the own copy coming back), dropped;
 *   - offset == last + 1: delivered, then any waiting successors;
 *   - offset > last + 1: kept, and after GAP_GRACE_MS (the missing one may
 *     still be on its way by the other path) the gap is read from the
 *     topic's history once for all local subscribers;
 *   - a gap the history cannot fill (trimmed, expired) or a new epoch (the
 *     history was lost): the topic's subscribers are told to resync, and
 *     delivery goes on from the new position.
 * After a broker outage every tracked topic is re-read from its last offset.
 */
import type { HistoryPage, HistoryPolicy, Publication } from '../broker/broker.js';

/** How long an out-of-order publication waits for the missing ones before the gap is read from history. */
export const GAP_GRACE_MS = 20;

export interface SequencerHost {
  deliver(pub: Publication): void;
  resync(topic: string, reason: 'epoch' | 'trimmed'): void;
  policy(topic: string): HistoryPolicy | null;
  read(topic: string, since: number, limit: number): Promise<HistoryPage>;
  log(level: 'info' | 'warn', msg: string, fields: Record<string, unknown>): void;
}

interface TopicState {
  epoch: string;
  last: number;
  waiting: Map<number, Publication>;
  filling: boolean;
  timer: NodeJS.Timeout | null;
}

export interface SequencerStats {
  duplicates: number;
  gapsFilled: number;
  publicationsFilled: number;
  resyncs: number;
  /** Fills that failed (broker unreachable): retried when it is back. */
  fillsFailed: number;
}

export class Sequencer {
  private readonly topics = new Map<string, TopicState>();
  readonly stats: SequencerStats = { duplicates: 0, gapsFilled: 0, publicationsFilled: 0, resyncs: 0, fillsFailed: 0 };

  constructor(private readonly host: SequencerHost) {}

  accept(pub: Publication): void {
    const offset = pub.offset as number;
    const epoch = pub.epoch as string;
    let s = this.topics.get(pub.topic);
    if (s === undefined) {
      s = { epoch, last: offset - 1, waiting: new Map(), filling: false, timer: null };
      this.topics.set(pub.topic, s);
    }
    if (epoch !== s.epoch) {
      this.restart(pub.topic, s, epoch, offset - 1, 'epoch');
    }
    if (offset <= s.last) {
      this.stats.duplicates++;
      return;
    }
    if (offset === s.last + 1) {
      this.host.deliver(pub);
      s.last = offset;
      this.flushWaiting(s);
      return;
    }
    s.waiting.set(offset, pub);
    if (s.timer === null && !s.filling) s.timer = setTimeout(() => void this.fill(pub.topic), GAP_GRACE_MS);
  }

  /** No local subscriber any more: forget the topic. */
  forget(topic: string): void {
    const s = this.topics.get(topic);
    if (s?.timer) clearTimeout(s.timer);
    this.topics.delete(topic);
  }

  /** The broker is back: publications may have been missed on every topic. */
  recheckAll(): void {
    for (const topic of this.topics.keys()) void this.fill(topic, true);
  }

  private flushWaiting(s: TopicState): void {
    for (let next = s.waiting.get(s.last + 1); next !== undefined; next = s.waiting.get(s.last + 1)) {
      s.waiting.delete(s.last + 1);
      this.host.deliver(next);
      s.last++;
    }
    // Anything older than last is a duplicate now.
    for (const off of s.waiting.keys()) if (off <= s.last) s.waiting.delete(off);
  }

  /** Reads the gap (or, after an outage, everything since last) from history and delivers it in order. */
  private async fill(topic: string, recheck = false): Promise<void> {
    const s = this.topics.get(topic);
    if (s === undefined || s.filling) return;
    s.timer = null;
    const policy = this.host.policy(topic);
    if (policy === null) return;
    if (!recheck && s.waiting.size === 0) return;
    s.filling = true;
    const from = s.last;
    const lowestWaiting = s.waiting.size > 0 ? Math.min(...s.waiting.keys()) : Number.POSITIVE_INFINITY;
    const limit = Math.min(policy.size, recheck ? policy.size : lowestWaiting - from - 1);
    let page: HistoryPage;
    try {
      page = await this.host.read(topic, from, Math.max(1, limit));
    } catch (err) {
      this.stats.fillsFailed++;
      s.filling = false;
      this.host.log('warn', 'history gap not filled: broker unavailable (retried when it is back)', { topic, from, code: (err as { code?: string }).code });
      return;
    }
    s.filling = false;
    if (this.topics.get(topic) !== s) return; // forgotten meanwhile
    if (page.top.epoch !== s.epoch) {
      this.restart(topic, s, page.top.epoch, page.top.offset, 'epoch');
      return;
    }
    if (page.top.offset < s.last) {
      // The top went backwards under the same epoch (a failover lost acknowledged writes).
      this.restart(topic, s, s.epoch, page.top.offset, 'trimmed');
      return;
    }
    let filled = 0;
    for (const p of page.publications) {
      const off = p.offset as number;
      if (off <= s.last) continue;
      // Entries below this one were trimmed: what was lost cannot be replayed.
      if (off !== s.last + 1) this.restart(topic, s, s.epoch, off - 1, 'trimmed');
      this.host.deliver(p);
      s.last = off;
      filled++;
    }
    if (filled > 0) {
      this.stats.gapsFilled++;
      this.stats.publicationsFilled += filled;
    }
    this.flushWaiting(s);
    const behind = s.waiting.size > 0 || (recheck && s.last < page.top.offset);
    if (!behind) return;
    if (page.publications.length === 0) {
      // The history holds nothing after `last` although more was published (expired): resync.
      const resumeAt = s.waiting.size > 0 ? Math.min(...s.waiting.keys()) - 1 : page.top.offset;
      this.restart(topic, s, s.epoch, resumeAt, 'trimmed');
      this.flushWaiting(s);
    } else {
      void this.fill(topic, recheck); // the page was limited: read on
    }
  }

  /** The stream broke: subscribers resync, delivery goes on from `last`. */
  private restart(topic: string, s: TopicState, epoch: string, last: number, reason: 'epoch' | 'trimmed'): void {
    this.stats.resyncs++;
    this.host.log('warn', 'history topic resync: its subscribers must recover', { topic, reason, from: s.last, to: last });
    if (epoch !== s.epoch) s.waiting.clear();
    s.epoch = epoch;
    s.last = last;
    for (const off of s.waiting.keys()) if (off <= last) s.waiting.delete(off);
    this.host.resync(topic, reason);
  }
}
