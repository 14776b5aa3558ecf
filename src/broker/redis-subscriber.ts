/**
 * The subscribing side of the Redis broker: one dedicated connection (never
 * used for commands with large replies: under RESP3 they would count against
 * the pubsub output-buffer limit), the node's topic set, sharded pub/sub
 * batches, and the liveness probe.
 *
 * Invariants:
 * - `topics` is the truth: a message for a channel not in it is ignored.
 * - SSUBSCRIBE batches hold channels of one slot only, at most BATCH each, and
 *   run independently: one failed batch (a CROSSSLOT, a MOVED storm) fails
 *   only its own topics.
 * - After node-redis reconnects (and re-subscribes by itself, one SSUBSCRIBE
 *   per channel), the count of shard subscriptions on the connection is
 *   checked against `topics` and the probe channel (CLIENT INFO `ssub`, single Redis only); a short
 *   count restarts the connection and subscribes everything again
 *   (node-redis #2155, #1252: reconnected but not re-subscribed).
 * - Liveness probe (centrifugal/centrifuge PR #594): the publisher sends a
 *   probe to this node's own service channel, one per subscriber connection
 *   (per Cluster master); one that did not come back by the next tick restarts
 *   the subscriber (see tick()).
 */

import type { Logger } from 'pino';
import { decodeEnvelope } from './redis-envelope.js';
import type { RedisLink, ShardListener } from './redis-link.js';
import { slotOf, type RedisNames } from './redis-names.js';
import { toBrokerError, unavailable, withTimeout } from './redis-errors.js';
import type { Publication } from './broker.js';

/** Channels per SSUBSCRIBE (Centrifugo redisSubscribeBatchLimit). */
export const SUBSCRIBE_BATCH = 512;

export interface SubscriberOptions {
  names: RedisNames;
  nodeId: string;
  /** Builds a fresh subscriber link (on start and on every restart); `onStatus` reports its readiness. */
  createLink(onStatus: (ready: boolean, reason: string) => void): RedisLink;
  /** Sends the liveness probe through the publishing connection. */
  sendProbe(channel: string): Promise<unknown>;
  onPublication(pub: Publication): void;
  /** Readiness of the subscriber as a whole (link ready and every topic subscribed). */
  onStatus(ready: boolean, reason: string): void;
  onUndecodable(): void;
  probeIntervalMs: number;
  commandTimeoutMs: number;
  log: Logger | undefined;
}

export class RedisSubscriber {
  private readonly o: SubscriberOptions;
  /** topic -> channel, and back. */
  private readonly topics = new Map<string, string>();
  private readonly byChannel = new Map<string, string>();
  /** Topics whose SSUBSCRIBE is in flight -> its outcome. */
  private readonly pending = new Map<string, Promise<void>>();
  /** One probe channel per subscriber connection (one per Cluster master), -> when its probe last came back. */
  private probes = new Map<string, number>();
  private link: RedisLink;
  private linkWasReady = false;
  private ready = false;
  private restarting: Promise<void> | undefined;
  private closed = false;
  private lastReceived = Date.now();
  private probeSentAt = 0;
  private timer: NodeJS.Timeout | undefined;
  /** Restarts done (liveness probe or a short resubscribe), for stats and tests. */
  restarts = 0;

  constructor(o: SubscriberOptions) {
    this.o = o;
    this.link = this.newLink();
  }

  get size(): number {
    return this.topics.size;
  }

  /** True while `topic` is subscribed (a publication still queued for an unsubscribed topic is not delivered). */
  has(topic: string): boolean {
    return this.topics.has(topic);
  }

  get isReady(): boolean {
    return this.ready;
  }

  async start(): Promise<void> {
    await this.link.connect();
    await this.subscribeProbes(this.link);
    this.linkWasReady = true;
    this.setReady(true, 'subscriber ready');
    this.timer = setInterval(() => this.tick(), this.o.probeIntervalMs);
    this.timer.unref();
  }

  async subscribe(topics: readonly string[]): Promise<void> {
    if (!this.ready) throw unavailable('subscribe: the Redis subscriber connection is down');
    const fresh: string[] = [];
    const waits: Promise<void>[] = [];
    for (const topic of topics) {
      // Already being subscribed by an earlier call: resolve with it, not before its SSUBSCRIBE is acknowledged.
      const pending = this.pending.get(topic);
      if (pending) waits.push(pending);
      if (this.topics.has(topic)) continue;
      const channel = this.o.names.topic(topic).channel;
      this.topics.set(topic, channel);
      this.byChannel.set(channel, topic);
      fresh.push(topic);
    }
    if (fresh.length > 0) {
      const done = this.subscribeBatches(this.link, fresh).then((failed) => {
        for (const t of fresh) this.pending.delete(t);
        if (failed.length === 0) return;
        for (const { topics: lost } of failed) for (const t of lost) this.forget(t);
        throw failed[0]?.error;
      });
      for (const t of fresh) this.pending.set(t, done);
      waits.push(done);
    }
    await Promise.all(waits);
  }

  async unsubscribe(topics: readonly string[]): Promise<void> {
    const channels: string[] = [];
    for (const topic of topics) {
      const channel = this.topics.get(topic);
      if (channel === undefined) continue;
      this.forget(topic);
      channels.push(channel);
    }
    if (channels.length === 0 || !this.link.ready) return; // a restart or reconnect subscribes only `topics`
    const results = await Promise.allSettled(
      (this.link.cluster ? groupBySlot(channels) : chunk(channels)).map((batch) =>
        withTimeout(this.link.sUnsubscribe(batch, this.listener), this.o.commandTimeoutMs, 'unsubscribe'),
      ),
    );
    const bad = results.find((r) => r.status === 'rejected');
    if (bad) throw toBrokerError(bad.reason, 'unsubscribe');
  }

  /** Ends the probe and the connection (graceful within deadlineMs, then destroyed). */
  async close(deadlineMs: number): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    const all = [...this.topics.keys()];
    await withTimeout(this.unsubscribe(all), Math.max(1, deadlineMs), 'unsubscribe').catch(() => undefined);
    await withTimeout(this.link.close(), Math.max(1, deadlineMs), 'close').catch(() => undefined);
    this.link.destroy();
  }

  /** Drops the connection and subscribes everything again on a new one. */
  restart(reason: string): Promise<void> {
    if (this.restarting || this.closed) return this.restarting ?? Promise.resolve();
    this.restarts++;
    this.o.log?.warn({ reason }, 'redis broker: restarting the subscriber connection');
    this.restarting = (async () => {
      this.setReady(false, reason);
      const old = this.link;
      old.destroy();
      this.link = this.newLink();
      this.linkWasReady = false;
      await this.link.connect(); // node-redis retries with backoff until it connects
      if (this.closed) return;
      await this.subscribeProbes(this.link);
      const failed = await this.subscribeBatches(this.link, [...this.topics.keys()]);
      if (failed.length > 0) throw failed[0]?.error;
      this.linkWasReady = true;
      this.lastReceived = Date.now();
      this.probeSentAt = 0;
      this.setReady(true, 'subscriber restarted');
    })()
      .catch((err: unknown) => {
        this.o.log?.warn({ err: toBrokerError(err, 'restart').message }, 'redis broker: subscriber restart failed, retrying');
        this.restarting = undefined;
        if (!this.closed) setTimeout(() => void this.restart('retry after a failed restart'), 250).unref();
      })
      .finally(() => {
        if (this.restarting) this.restarting = undefined;
      });
    return this.restarting;
  }

  private readonly listener: ShardListener = (message, channelBuf) => {
    this.lastReceived = Date.now();
    const channel = channelBuf.toString('utf8');
    if (this.probes.has(channel)) {
      this.probes.set(channel, Date.now());
      return;
    }
    const topic = this.byChannel.get(channel);
    if (topic === undefined) return;
    const pub = decodeEnvelope(topic, message);
    if (pub === undefined) this.o.onUndecodable();
    else this.o.onPublication(pub);
  };

  private newLink(): RedisLink {
    let link: RedisLink | undefined;
    link = this.o.createLink((ready, reason) => {
      if (link !== this.link) return; // a replaced connection's late events
      this.onLinkStatus(ready, reason);
    });
    return link;
  }

  private onLinkStatus(linkReady: boolean, reason: string): void {
    if (this.restarting || this.closed) return;
    if (!linkReady) {
      this.setReady(false, reason);
      return;
    }
    if (this.ready || !this.linkWasReady) return;
    // node-redis reconnected and re-subscribed: verify before saying 'up'.
    void this.verifyResubscribed().then((ok) => {
      if (ok) this.setReady(true, 'subscriber reconnected');
      else void this.restart('resubscribe incomplete after reconnect');
    });
  }

  /** Single Redis: the connection's shard-subscription count (CLIENT INFO `ssub`) covers every topic plus the probe channel. */
  private async verifyResubscribed(): Promise<boolean> {
    if (this.link.cluster) return true; // per-master connections: node-redis's own resubscribe (one SSUBSCRIBE per channel)
    try {
      const info = String(await this.link.send('', ['CLIENT', 'INFO'], false));
      const m = / ssub=(\d+)/.exec(info);
      if (!m) return true; // a server without the field: nothing to compare
      const have = Number(m[1]);
      const want = this.topics.size + this.probes.size;
      if (have !== want) this.o.log?.warn({ have, want }, 'redis broker: subscriptions missing after reconnect');
      return have === want;
    } catch {
      return false;
    }
  }

  private setReady(ready: boolean, reason: string): void {
    if (this.ready === ready) return;
    this.ready = ready;
    this.o.onStatus(ready, reason);
  }

  /**
   * Every tick: if a probe was sent last tick and one of the probe channels
   * did not get it back, restart. Then probe again when the connection was
   * idle for an interval (single Redis: any message proves the one
   * connection), or always on a Cluster (traffic on one master's connection
   * says nothing of another's). Cost: one SPUBLISH per master per interval.
   */
  private tick(): void {
    if (this.closed || this.restarting) return;
    if (!this.link.ready) {
      this.probeSentAt = 0; // node-redis is reconnecting: its own job
      return;
    }
    const now = Date.now();
    if (this.probeSentAt > 0) {
      const deaf = [...this.probes].filter(([, back]) => back < this.probeSentAt).map(([c]) => c);
      if (deaf.length > 0) {
        void this.restart(`liveness probe: no answer on ${deaf.length} of ${this.probes.size} connection(s) for ${now - this.probeSentAt} ms`);
        return;
      }
    }
    this.probeSentAt = 0;
    if (this.link.cluster || now - this.lastReceived >= this.o.probeIntervalMs) {
      this.probeSentAt = now;
      for (const channel of this.probes.keys()) {
        this.o.sendProbe(channel).catch(() => {
          this.probeSentAt = 0; // the publisher is down: says nothing about these connections
        });
      }
    }
  }

  private async subscribeProbes(link: RedisLink): Promise<void> {
    const channels = link.perConnection((i) => this.o.names.nodeChannel(this.o.nodeId, i));
    this.probes = new Map(channels.map((c) => [c, Date.now()]));
    // One call per channel: on a Cluster they are on different masters.
    await Promise.all(channels.map((c) => withTimeout(link.sSubscribe([c], this.listener), this.o.commandTimeoutMs, 'subscribe')));
  }

  private forget(topic: string): void {
    const channel = this.topics.get(topic);
    this.topics.delete(topic);
    if (channel !== undefined) this.byChannel.delete(channel);
  }

  private async subscribeBatches(link: RedisLink, topics: string[]): Promise<Array<{ topics: string[]; error: Error }>> {
    const channels = topics.map((t) => this.topics.get(t)).filter((c): c is string => c !== undefined);
    // A Cluster takes one slot per SSUBSCRIBE; a single Redis takes any mix.
    const batches = link.cluster ? groupBySlot(channels) : chunk(channels);
    const results = await Promise.allSettled(batches.map((batch) => withTimeout(link.sSubscribe(batch, this.listener), this.o.commandTimeoutMs, 'subscribe')));
    const failed: Array<{ topics: string[]; error: Error }> = [];
    results.forEach((r, i) => {
      if (r.status === 'fulfilled') return;
      const batch = batches[i] ?? [];
      failed.push({ topics: batch.map((c) => this.byChannel.get(c) ?? c), error: toBrokerError(r.reason, 'subscribe') });
      // A timed-out SSUBSCRIBE may still succeed later: unsubscribe behind it (same connection, so after it).
      link.sUnsubscribe(batch, this.listener).catch(() => undefined);
    });
    return failed;
  }
}

function chunk(channels: readonly string[]): string[][] {
  const out: string[][] = [];
  for (let i = 0; i < channels.length; i += SUBSCRIBE_BATCH) out.push(channels.slice(i, i + SUBSCRIBE_BATCH));
  return out;
}

/** Channels grouped by Cluster slot, each group cut to SUBSCRIBE_BATCH. */
export function groupBySlot(channels: readonly string[]): string[][] {
  const bySlot = new Map<number, string[]>();
  for (const c of channels) {
    const slot = slotOf(c);
    let g = bySlot.get(slot);
    if (!g) bySlot.set(slot, (g = []));
    g.push(c);
  }
  const out: string[][] = [];
  for (const g of bySlot.values()) for (let i = 0; i < g.length; i += SUBSCRIBE_BATCH) out.push(g.slice(i, i + SUBSCRIBE_BATCH));
  return out;
}
