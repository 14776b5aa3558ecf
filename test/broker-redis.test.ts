/**
 * The Redis broker against real redis-server processes (a single Redis and a
 * 3-master Cluster): two broker instances play two nodes.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import type { BrokerState, HistoryPolicy, Publication } from '../src/broker/broker.js';
import { RedisBroker, type RedisBrokerConfig } from '../src/broker/redis.js';
import { BrokerError, ErrorCode, ShardlineError } from '../src/errors.js';
import { FreezingProxy } from './helpers/freezing-proxy.js';
import { freePort, startRedis, startRedisCluster, type RedisCluster, type RedisServer } from './helpers/redis.js';

interface Node {
  broker: RedisBroker;
  pubs: Publication[];
  states: BrokerState[];
  /** Resolves once `pred` holds (checked every 20 ms), or throws after `ms`. */
  until(pred: () => boolean, ms?: number, what?: string): Promise<void>;
}

async function node(cfg: Partial<RedisBrokerConfig> & { nodeId: string }): Promise<Node> {
  // A generous reply timeout unless a test is about timeouts: this machine is shared and loaded.
  const broker = new RedisBroker({ keyPrefix: 'sl', commandTimeoutMs: 20_000, ...cfg });
  const pubs: Publication[] = [];
  const states: BrokerState[] = [];
  onTestFinished(async () => {
    await broker.close(1000);
  });
  await broker.start({ onPublication: (p) => pubs.push(p), onState: (s) => states.push(s) });
  const until = async (pred: () => boolean, ms = 10_000, what = 'condition') => {
    const end = Date.now() + ms;
    while (!pred()) {
      if (Date.now() > end) throw new Error(`${cfg.nodeId}: timed out waiting for ${what}`);
      await sleep(20);
    }
  };
  return { broker, pubs, states, until };
}

const H: HistoryPolicy = { size: 1000, ttlSec: 300 };

/** A and B each publish `n` messages on every topic, without awaiting in between; both receive everything in per-publisher order. */
async function exchange(a: Node, b: Node, topics: string[], n: number): Promise<void> {
  await Promise.all([a.broker.subscribe(topics), b.broker.subscribe(topics)]);
  const sends: Promise<unknown>[] = [];
  for (let i = 0; i < n; i++) {
    for (const t of topics) {
      sends.push(a.broker.publish(t, `A:${i}`, false, { history: H }));
      sends.push(b.broker.publish(t, `B:${i}`, false, {}));
    }
  }
  await Promise.all(sends);
  const total = 2 * n * topics.length;
  await a.until(() => a.pubs.length >= total, 20_000, `${total} publications`);
  await b.until(() => b.pubs.length >= total, 20_000, `${total} publications`);
  await sleep(100); // a duplicate would arrive by now
  for (const x of [a, b]) {
    expect(x.pubs.length).toBe(total);
    for (const t of topics) {
      for (const origin of ['A', 'B']) {
        const seq = x.pubs.filter((p) => p.topic === t && p.origin === origin).map((p) => p.data);
        expect(seq).toEqual(Array.from({ length: n }, (_, i) => `${origin}:${i}`));
      }
      // A's history topic: offsets delivered in order, contiguous from the first.
      const offsets = x.pubs.filter((p) => p.topic === t && p.origin === 'A').map((p) => p.offset ?? -1);
      const first = offsets[0] ?? 0;
      expect(offsets).toEqual(Array.from({ length: n }, (_, i) => first + i));
    }
  }
}

describe('redis broker on one Redis', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it('two nodes exchange publications in per-publisher order, with contiguous offsets', async () => {
    const a = await node({ url: redis.url, nodeId: 'A', keyPrefix: 'ex' });
    const b = await node({ url: redis.url, nodeId: 'B', keyPrefix: 'ex' });
    await exchange(a, b, ['news', 'a{b}c', 'spaces and ünïcode', 'x'.repeat(200)], 300);
    expect(a.broker.stats()).toMatchObject({ state: 'up', publishFailed: 0, deliveriesDropped: 0, disconnects: 0, topics: 4 });
  });

  // Regression: with EVALSHA, publishes that met an empty script cache (NOSCRIPT) were re-sent
  // as EVAL behind later ones that found the script loaded meanwhile: B:37..39 before B:0.
  it('one publisher keeps its order across SCRIPT FLUSH while another node publishes too', async () => {
    const a = await node({ url: redis.url, nodeId: 'A', keyPrefix: 'flushorder' });
    const b = await node({ url: redis.url, nodeId: 'B', keyPrefix: 'flushorder' });
    await a.broker.subscribe(['o']);
    for (let round = 0; round < 3; round++) {
      await redis.cli('SCRIPT', 'FLUSH');
      await Promise.all(
        Array.from({ length: 100 }, (_, i) => [
          a.broker.publish('o', `A:${round}:${i}`, false, { history: H }),
          b.broker.publish('o', `B:${round}:${i}`, false, { history: H }),
        ]).flat(),
      );
    }
    await a.until(() => a.pubs.length === 600);
    for (const origin of ['A', 'B']) {
      const seq = a.pubs.filter((p) => p.origin === origin).map((p) => p.data);
      expect(seq).toEqual([0, 1, 2].flatMap((r) => Array.from({ length: 100 }, (_, i) => `${origin}:${r}:${i}`)));
    }
    expect(a.pubs.map((p) => p.offset)).toEqual(Array.from({ length: 600 }, (_, i) => i + 1));
  });

  it('a topic subscribed by two overlapping calls: both resolve only once publications flow', async () => {
    const a = await node({ url: redis.url, nodeId: 'A', keyPrefix: 'overlap' });
    const b = await node({ url: redis.url, nodeId: 'B', keyPrefix: 'overlap' });
    const first = b.broker.subscribe(['t', 'u']);
    const second = b.broker.subscribe(['u', 'v']);
    await second; // `u` is in flight from the first call: the second waits for it
    await a.broker.publish('u', 'to u', false, {});
    await first;
    await a.broker.publish('t', 'to t', false, {});
    await a.broker.publish('v', 'to v', false, {});
    await b.until(() => b.pubs.length === 3);
    expect(b.pubs.map((p) => p.data)).toEqual(['to u', 'to t', 'to v']);
    expect(b.broker.stats().topics).toBe(3);
    await b.broker.unsubscribe(['u']);
    await a.broker.publish('u', 'gone', false, {});
    await a.broker.publish('t', 'still', false, {});
    await b.until(() => b.pubs.length === 4);
    await sleep(100);
    expect(b.pubs.map((p) => p.data)).toEqual(['to u', 'to t', 'to v', 'still']);
  });

  it('history: contiguous offsets, since/limit, top only, trimmed to size', async () => {
    const a = await node({ url: redis.url, nodeId: 'A', keyPrefix: 'hist' });
    const policy = { size: 10, ttlSec: 60 };
    const positions = [];
    for (let i = 1; i <= 25; i++) positions.push((await a.broker.publish('h', `m${i}`, false, { history: policy })).position);
    expect(positions.map((p) => p?.offset)).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
    const epoch = positions[0]?.epoch;
    expect(new Set(positions.map((p) => p?.epoch))).toEqual(new Set([epoch]));

    const all = await a.broker.history('h', { history: policy, since: 0, limit: 100 });
    expect(all.top).toEqual({ offset: 25, epoch });
    // Trimmed: only the last 10 are kept (exact MAXLEN).
    expect(all.publications.map((p) => p.offset)).toEqual(Array.from({ length: 10 }, (_, i) => i + 16));
    expect(all.publications.map((p) => p.data)).toEqual(Array.from({ length: 10 }, (_, i) => `m${i + 16}`));
    expect(all.publications.every((p) => p.epoch === epoch && p.origin === 'A')).toBe(true);

    const page = await a.broker.history('h', { history: policy, since: 20, limit: 3 });
    expect(page.publications.map((p) => p.offset)).toEqual([21, 22, 23]);
    const top = await a.broker.history('h', { history: policy, since: 0, limit: 0 });
    expect(top).toEqual({ publications: [], top: { offset: 25, epoch } });
    // A topic never published: top 0, with an epoch that then stays.
    const fresh = await a.broker.history('never', { history: policy, since: 0, limit: 10 });
    expect(fresh.top.offset).toBe(0);
    const first = await a.broker.publish('never', 'x', false, { history: policy });
    expect(first.position).toEqual({ offset: 1, epoch: fresh.top.epoch });
  });

  it('the epoch changes after FLUSHALL and offsets restart at 1', async () => {
    const a = await node({ url: redis.url, nodeId: 'A', keyPrefix: 'flush' });
    const r1 = await a.broker.publish('e', 'one', false, { history: H });
    await a.broker.publish('e', 'two', false, { history: H });
    await redis.cli('FLUSHALL');
    const after = await a.broker.history('e', { history: H, since: 0, limit: 10 });
    expect(after.top.offset).toBe(0);
    expect(after.top.epoch).not.toBe(r1.position?.epoch);
    const r3 = await a.broker.publish('e', 'three', false, { history: H });
    expect(r3.position).toEqual({ offset: 1, epoch: after.top.epoch });
  });

  it('an idempotent publish returns the first result and is published once', async () => {
    const a = await node({ url: redis.url, nodeId: 'A', keyPrefix: 'idem' });
    const b = await node({ url: redis.url, nodeId: 'B', keyPrefix: 'idem' });
    await b.broker.subscribe(['i', 'plain']);
    const first = await a.broker.publish('i', 'once', false, { history: H, idempotencyKey: 'k-1' });
    const again = await a.broker.publish('i', 'once', false, { history: H, idempotencyKey: 'k-1' });
    const fromB = await b.broker.publish('i', 'once', false, { history: H, idempotencyKey: 'k-1' });
    expect(first.duplicate).toBe(false);
    expect(again).toEqual({ duplicate: true, position: first.position });
    expect(fromB).toEqual({ duplicate: true, position: first.position });
    const other = await a.broker.publish('i', 'twice', false, { history: H, idempotencyKey: 'k-2' });
    expect(other.position?.offset).toBe((first.position?.offset ?? 0) + 1);
    expect((await a.broker.publish('plain', 'p', false, { idempotencyKey: 'k-1' })).duplicate).toBe(false);
    expect((await a.broker.publish('plain', 'p', false, { idempotencyKey: 'k-1' })).duplicate).toBe(true);
    await b.until(() => b.pubs.length >= 3);
    await sleep(200);
    expect(b.pubs.map((p) => `${p.topic}:${p.data}`)).toEqual(['i:once', 'i:twice', 'plain:p']);
    const ttl = Number(await redis.cli('TTL', `idem.result.{${(await import('../src/broker/redis-names.js')).hashTag('i')}}.1.i.k-1`));
    expect(ttl).toBeGreaterThan(290);
    expect(ttl).toBeLessThanOrEqual(300);
  });

  it('publications are binary-safe through pub/sub and history', async () => {
    const a = await node({ url: redis.url, nodeId: 'A node', keyPrefix: 'bin' });
    await a.broker.subscribe(['b']);
    const bytes = new Uint8Array([0, 10, 13, 32, 0xff, 0xfe, 0x80, 10, 10]);
    await a.broker.publish('b', bytes, true, { history: H });
    await a.broker.publish('b', 'line\nbreak é', false, { history: H });
    await a.until(() => a.pubs.length === 2);
    expect(a.pubs[0]).toMatchObject({ binary: true, origin: 'A node', offset: 1 });
    expect(Array.from(a.pubs[0]?.data as Uint8Array)).toEqual(Array.from(bytes));
    expect(a.pubs[1]).toMatchObject({ binary: false, data: 'line\nbreak é', offset: 2 });
    const page = await a.broker.history('b', { history: H, since: 0, limit: 10 });
    expect(Array.from(page.publications[0]?.data as Uint8Array)).toEqual(Array.from(bytes));
    expect(page.publications[1]?.data).toBe('line\nbreak é');
  });

  it('close() flushes outstanding publishes, reports them, and is idempotent', async () => {
    const a = await node({ url: redis.url, nodeId: 'A', keyPrefix: 'close' });
    await a.broker.subscribe(['c']);
    const sends = Array.from({ length: 500 }, (_, i) => a.broker.publish('c', String(i), false, { history: H }));
    const closing = a.broker.close(5000);
    expect(a.broker.close(5000)).toBe(closing);
    const report = await closing;
    const settled = await Promise.allSettled(sends);
    const ok = settled.filter((s) => s.status === 'fulfilled').length;
    expect(report.publishesFlushed + report.publishesFailed + report.publishesAbandoned).toBe(500);
    expect(report.publishesFlushed).toBe(ok);
    expect(ok).toBe(500);
    expect(a.broker.stats()).toMatchObject({ state: 'closed', topics: 0 });
    await expect(a.broker.publish('c', 'late', false, {})).rejects.toMatchObject({ code: ErrorCode.BROKER_UNAVAILABLE, retryable: false });
    expect(a.states.at(-1)).toBe('closed');
  });

  it('start() against a port where nothing listens rejects with a clear retryable error', async () => {
    const port = await freePort();
    const broker = new RedisBroker({ url: `redis://127.0.0.1:${port}`, keyPrefix: 'sl', nodeId: 'A', connectTimeoutMs: 800 });
    const t0 = Date.now();
    const err = await broker.start({ onPublication: () => undefined, onState: () => undefined }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BrokerError);
    expect(err).toMatchObject({ code: ErrorCode.BROKER_UNAVAILABLE, retryable: true });
    expect((err as Error).message).toContain(String(port));
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('rejects bad config naming the key', () => {
    const mk = (c: Partial<RedisBrokerConfig>) => () => new RedisBroker({ keyPrefix: 'sl', nodeId: 'A', ...c });
    expect(mk({ url: 'redis://x', urls: ['redis://y'] })).toThrow(ShardlineError);
    expect(mk({})).toThrow(/broker\.url/);
    expect(mk({ url: 'redis://x', keyPrefix: 'a{b' })).toThrow(/broker\.keyPrefix/);
    expect(mk({ url: 'redis://x', nodeId: 'a\nb' })).toThrow(/broker\.nodeId/);
    expect(mk({ url: 'redis://x', commandTimeoutMs: 0 })).toThrow(/broker\.commandTimeoutMs/);
  });
});

/** Number of shard-channel subscriptions of the connection named `name` (CLIENT LIST `ssub`). */
async function ssubOf(redis: RedisServer, name: string): Promise<number> {
  const line = (await redis.cli('CLIENT', 'LIST')).split('\n').find((l) => l.includes(` name=${name} `));
  const m = line ? / ssub=(\d+)/.exec(line) : null;
  return m ? Number(m[1]) : -1;
}

/** A publishes 'after' on every topic; B must get each within `ms`. */
async function deliveredAgain(a: Node, b: Node, topics: string[], ms: number): Promise<void> {
  const tag = `after-${Date.now()}`;
  for (const t of topics) await a.broker.publish(t, tag, false, { history: H });
  await b.until(() => b.pubs.filter((p) => p.data === tag).length === topics.length, ms, 'delivery on every topic');
}

describe('redis broker when Redis fails', () => {
  const topics = ['k1', 'k2', 'k3'];

  it('SIGKILL of Redis mid-stream and a restart on the same port: no crash, fast retryable rejections, resubscribed within 5 s', async () => {
    const redis = await startRedis();
    onTestFinished(() => redis.stop());
    const a = await node({ url: redis.url, nodeId: 'A', commandTimeoutMs: 1000 });
    const b = await node({ url: redis.url, nodeId: 'B', commandTimeoutMs: 1000 });
    await b.broker.subscribe(topics);

    let stop = false;
    let ok = 0;
    const failures: unknown[] = [];
    const stream = (async () => {
      for (let i = 0; !stop; i++) {
        await a.broker.publish(topics[i % 3] ?? 'k1', String(i), false, { history: H }).then(
          () => ok++,
          (e: unknown) => failures.push(e),
        );
        await sleep(5);
      }
    })();
    await a.until(() => ok >= 30 && b.pubs.length >= 20, 10_000, 'the stream to flow');

    await redis.kill('SIGKILL');
    await a.until(() => a.states.includes('down'), 5000, 'A down');
    await b.until(() => b.states.includes('down'), 5000, 'B down');
    const t0 = Date.now();
    const err = await a.broker.publish('k1', 'while down', false, { history: H }).catch((e: unknown) => e);
    expect(Date.now() - t0).toBeLessThan(1000); // rejected at once, not after a timeout
    expect(err).toBeInstanceOf(BrokerError);
    expect(err).toMatchObject({ code: ErrorCode.BROKER_UNAVAILABLE, retryable: true });
    await expect(a.broker.history('k1', { history: H, since: 0, limit: 1 })).rejects.toMatchObject({ code: ErrorCode.BROKER_UNAVAILABLE, retryable: true });
    await expect(b.broker.subscribe(['k4'])).rejects.toMatchObject({ code: ErrorCode.BROKER_UNAVAILABLE, retryable: true });
    await sleep(700);

    await redis.start();
    const back = Date.now();
    await a.until(() => a.states.at(-1) === 'up', 5000, 'A up');
    await b.until(() => b.states.at(-1) === 'up', 5000 - (Date.now() - back), 'B up');
    await deliveredAgain(a, b, topics, Math.max(500, 5000 - (Date.now() - back)));
    stop = true;
    await stream;

    // Every topic really is subscribed again on B's subscriber connection (+1: its probe channel).
    expect(await ssubOf(redis, 'shardline-B-sub')).toBe(topics.length + 1);
    expect(failures.length).toBeGreaterThan(0);
    for (const f of failures) expect(f).toMatchObject({ code: ErrorCode.BROKER_UNAVAILABLE, retryable: true });
    expect(a.broker.stats().disconnects).toBeGreaterThanOrEqual(1);
    expect(a.broker.stats().publishFailed).toBeGreaterThanOrEqual(failures.length + 1);
    expect(b.broker.stats()).toMatchObject({ state: 'up', topics: 3 });
    // The data died with the process (no RDB/AOF): the history restarted under a new epoch.
    const after = await a.broker.history('k1', { history: H, since: 0, limit: 0 });
    expect(after.top.offset).toBeLessThan(ok);
  });

  it('CLIENT KILL TYPE pubsub: the subscriber reconnects and every topic is subscribed again', async () => {
    const redis = await startRedis();
    onTestFinished(() => redis.stop());
    const a = await node({ url: redis.url, nodeId: 'A' });
    const b = await node({ url: redis.url, nodeId: 'B' });
    await b.broker.subscribe(topics);
    await deliveredAgain(a, b, topics, 5000);
    const killed = Number(await redis.cli('CLIENT', 'KILL', 'TYPE', 'pubsub'));
    expect(killed).toBe(2); // A's and B's subscriber connections
    await b.until(() => b.states.includes('down') && b.states.at(-1) === 'up', 5000, 'B down then up');
    await deliveredAgain(a, b, topics, 5000);
    expect(await ssubOf(redis, 'shardline-B-sub')).toBe(topics.length + 1);
    expect(b.broker.stats().disconnects).toBe(1);
  });

  it('DEBUG SLEEP: calls time out with a retryable error instead of hanging, then work again', async () => {
    const redis = await startRedis();
    onTestFinished(() => redis.stop());
    const a = await node({ url: redis.url, nodeId: 'A', commandTimeoutMs: 500 });
    await a.broker.subscribe(['s']);
    const sleeping = redis.raw('DEBUG SLEEP 4');
    await sleep(100); // the command was written at once from this process; Redis is asleep by now
    const t0 = Date.now();
    const results = await Promise.allSettled([a.broker.publish('s', 'x', false, { history: H }), a.broker.history('s', { history: H, since: 0, limit: 10 })]);
    const took = Date.now() - t0;
    for (const r of results) {
      expect(r.status).toBe('rejected');
      if (r.status === 'rejected') expect(r.reason).toMatchObject({ code: ErrorCode.BROKER_UNAVAILABLE, retryable: true });
    }
    expect(took).toBeLessThan(3500); // the 500 ms timeout (plus a loaded machine's lag), not the 4 s sleep
    await sleeping;
    const r = await a.broker.publish('s', 'y', false, { history: H });
    expect(r.position?.offset).toBeGreaterThanOrEqual(1);
    await a.until(() => a.pubs.some((p) => p.data === 'y'), 5000, 'delivery after the sleep');
  });

  it('liveness probe: a subscriber connection that silently stops receiving is restarted', async () => {
    const redis = await startRedis();
    onTestFinished(() => redis.stop());
    const proxy = new FreezingProxy(redis.port);
    await proxy.listen();
    onTestFinished(() => proxy.close());
    const url = `redis://127.0.0.1:${proxy.port}`;
    const a = await node({ url: redis.url, nodeId: 'A' });
    const b = await node({ url, nodeId: 'B', probeIntervalMs: 300 });
    await b.broker.subscribe(topics);
    await deliveredAgain(a, b, topics, 5000);
    expect(proxy.freezeSubscribers()).toBe(1);
    // Nothing closes: only the probe can tell. Restarted within a few intervals.
    await b.until(() => b.broker.subscriberRestarts >= 1 && b.states.at(-1) === 'up', 5000, 'the probe to restart the subscriber');
    await deliveredAgain(a, b, topics, 5000);
    expect(b.states).toContain('down');
  });
});

describe('redis broker on a 3-master Redis Cluster', () => {
  let cluster: RedisCluster;
  beforeAll(async () => {
    cluster = await startRedisCluster();
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  it('two nodes exchange publications in per-publisher order, topics spread over every master', async () => {
    const a = await node({ urls: cluster.urls, nodeId: 'A' });
    const b = await node({ urls: cluster.urls, nodeId: 'B' });
    const topics = Array.from({ length: 30 }, (_, i) => `room-${i}`);
    await exchange(a, b, topics, 40);
    // Every master holds some of the topics' shard channels (sharded pub/sub, batched per slot),
    // and one liveness-probe channel of each node: every subscriber connection is probed.
    for (const n of cluster.nodes) {
      const channels = (await n.cli('PUBSUB', 'SHARDCHANNELS')).split('\n');
      expect(channels.filter((c) => c.startsWith('sl.ch.')).length).toBeGreaterThan(0);
      expect(channels.filter((c) => c.startsWith('sl.node.') && c.endsWith('.A')).length).toBe(1);
      expect(channels.filter((c) => c.startsWith('sl.node.') && c.endsWith('.B')).length).toBe(1);
    }
  });

  it('history and idempotency on the Cluster', async () => {
    const a = await node({ urls: cluster.urls, nodeId: 'A' });
    const policy = { size: 5, ttlSec: 60 };
    for (const t of ['c1', 'c2', 'c3', 'c4']) {
      for (let i = 1; i <= 8; i++) expect((await a.broker.publish(t, `${t}:${i}`, false, { history: policy })).position?.offset).toBe(i);
      const page = await a.broker.history(t, { history: policy, since: 0, limit: 100 });
      expect(page.publications.map((p) => p.data)).toEqual([4, 5, 6, 7, 8].map((i) => `${t}:${i}`));
      expect(page.top.offset).toBe(8);
      const first = await a.broker.publish(t, 'k', false, { history: policy, idempotencyKey: 'key' });
      expect(await a.broker.publish(t, 'k', false, { history: policy, idempotencyKey: 'key' })).toEqual({ duplicate: true, position: first.position });
    }
  });

  it('a master killed and restarted: the broker goes down, comes back up, and every topic flows again', async () => {
    const a = await node({ urls: cluster.urls, nodeId: 'A', commandTimeoutMs: 1000 });
    const b = await node({ urls: cluster.urls, nodeId: 'B', commandTimeoutMs: 1000 });
    const topics = Array.from({ length: 12 }, (_, i) => `m-${i}`);
    await b.broker.subscribe(topics);
    await deliveredAgain(a, b, topics, 10_000);
    const victim = cluster.nodes[1];
    if (!victim) throw new Error('no node');
    await victim.kill('SIGKILL');
    await b.until(() => b.states.includes('down'), 10_000, 'B down');
    await sleep(500);
    await victim.start(); // same port and dir: nodes.conf brings back its id and slots
    const back = Date.now();
    await a.until(() => a.states.at(-1) === 'up', 10_000, 'A up');
    await b.until(() => b.states.at(-1) === 'up', 10_000, 'B up');
    // The connections are back; the Cluster itself may still answer CLUSTERDOWN (retryable) for a moment.
    const tag = `back-${Date.now()}`;
    for (const t of topics) {
      for (let tries = 0; ; tries++) {
        const r = await a.broker.publish(t, tag, false, {}).catch((e: unknown) => e);
        if (!(r instanceof Error)) break;
        expect(r).toMatchObject({ code: ErrorCode.BROKER_UNAVAILABLE, retryable: true });
        if (tries > 100) throw r;
        await sleep(100);
      }
    }
    await b.until(() => b.pubs.filter((p) => p.data === tag).length === topics.length, 10_000, 'delivery on every topic');
    console.log(`cluster master restart: both brokers up and every topic delivered ${Date.now() - back} ms after the master answered PING`);
  });
});
