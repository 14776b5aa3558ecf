/**
 * A fleet end to end: two shardline nodes (two processes, 2 shards each) on
 * real Redis (one server, and a 3-master Cluster), protocol v1 clients.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, startRedisCluster, type RedisCluster, type RedisServer } from './helpers/redis.js';
import { configFile, startServer, type ServerProcess } from './helpers/server.js';
import { connectV1, offsets, range, type V1Client } from './helpers/v1.js';

const HISTORY = [
  { match: 'room.*', size: 1000, ttlSec: 600 },
  { match: 'tiny.*', size: 5, ttlSec: 600 },
];

function node(broker: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<ServerProcess> {
  return startServer(['--config', configFile({ shards: 2, broker: { type: 'redis', ...broker }, history: HISTORY, ...extra })]);
}

/** n clients subscribed to `topic` on `port`. */
async function subscribers(port: number, n: number, topic: string): Promise<V1Client[]> {
  const subs = await Promise.all(Array.from({ length: n }, () => connectV1(port)));
  for (const s of subs) expect(await s.request({ subscribe: topic })).toMatchObject({ ok: true });
  return subs;
}

/** Every subscriber got every publication of both publishers exactly once, each publisher's in order. */
async function expectAllInOrder(subs: V1Client[], topic: string, perPublisher: number): Promise<void> {
  for (const s of subs) {
    const got = await s.waitForPubs(topic, 2 * perPublisher, 60_000);
    await new Promise((r) => setTimeout(r, 50));
    expect(s.pubs.get(topic)?.length).toBe(2 * perPublisher);
    for (const p of ['A', 'B']) {
      expect(got.filter((x) => (x.data as { p: string }).p === p).map((x) => (x.data as { i: number }).i)).toEqual(range(1, perPublisher));
    }
  }
}

async function publishMany(client: V1Client, topic: string, p: string, n: number): Promise<void> {
  for (let i = 1; i <= n; i++) client.ws.send(JSON.stringify({ publish: topic, data: { p, i } }));
  await client.request({ ping: 1 }, 30_000); // the publishes before it have been handled
}

describe('a fleet of two nodes on one Redis', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => redis?.stop());

  it('20 subscribers per node get all 1,000 publications of each node exactly once, in per-publisher order', async () => {
    const a = await node({ url: redis.url });
    const b = await node({ url: redis.url });
    const subs = [...(await subscribers(a.port, 20, 'fleet')), ...(await subscribers(b.port, 20, 'fleet'))];
    const pa = await connectV1(a.port);
    const pb = await connectV1(b.port);
    await Promise.all([publishMany(pa, 'fleet', 'A', 1000), publishMany(pb, 'fleet', 'B', 1000)]);
    await expectAllInOrder(subs, 'fleet', 1000);
  });

  it('a client drained off node A recovers exactly the 100 publications made on node B while it was away, then live ones', async () => {
    const a = await node({ url: redis.url });
    const b = await node({ url: redis.url });
    const onA = await connectV1(a.port);
    const first = await onA.request({ subscribe: 'room.deploy' });
    const pub = await connectV1(b.port);
    for (let i = 1; i <= 10; i++) await pub.request({ publish: 'room.deploy', data: i });
    await onA.waitForPubs('room.deploy', 10);
    const last = onA.pubs.get('room.deploy')?.at(-1);
    a.signal('SIGTERM');
    expect((await onA.closed).code).toBe(1001);
    expect((await a.exited).code).toBe(0);
    for (let i = 11; i <= 110; i++) await pub.request({ publish: 'room.deploy', data: i });

    const back = await connectV1(b.port);
    const r = await back.request({ subscribe: 'room.deploy', since: { offset: last?.offset, epoch: first.epoch } });
    expect(r).toMatchObject({ ok: true, recovered: true, offset: 110, epoch: first.epoch });
    expect(offsets(back.pubs.get('room.deploy') ?? [])).toEqual(range(11, 110));
    await pub.request({ publish: 'room.deploy', data: 111 });
    await back.waitForPubs('room.deploy', 101);
    expect(offsets(back.pubs.get('room.deploy') ?? [])).toEqual(range(11, 111));
  });

  it('recovery after the history was trimmed, or Redis flushed, says recovered:false and replays nothing', async () => {
    const a = await node({ url: redis.url });
    const c = await connectV1(a.port);
    const first = await c.request({ publish: 'tiny.t', data: 0 });
    for (let i = 1; i <= 20; i++) await c.request({ publish: 'tiny.t', data: i });
    const trimmed = await connectV1(a.port);
    expect(await trimmed.request({ subscribe: 'tiny.t', since: { offset: 2, epoch: first.epoch } })).toMatchObject({ recovered: false, offset: 21 });
    await redis.cli('FLUSHALL');
    const flushed = await connectV1(a.port);
    const r = await flushed.request({ subscribe: 'tiny.t', since: { offset: 21, epoch: first.epoch } });
    expect(r).toMatchObject({ ok: true, recovered: false, offset: 0 });
    expect(r.epoch).not.toBe(first.epoch);
    await new Promise((res) => setTimeout(res, 100));
    expect(trimmed.pubs.get('tiny.t') ?? []).toEqual([]);
    expect(flushed.pubs.get('tiny.t') ?? []).toEqual([]);
  });
});

describe('a fleet of two nodes on a 3-master Redis Cluster', () => {
  let cluster: RedisCluster;
  beforeAll(async () => {
    cluster = await startRedisCluster();
  }, 60_000);
  afterAll(async () => cluster?.stop());

  it('20 subscribers per node get all 1,000 publications of each node exactly once, in per-publisher order; history recovers across nodes', async () => {
    const a = await node({ urls: cluster.urls });
    const b = await node({ urls: cluster.urls });
    const subs = [...(await subscribers(a.port, 20, 'fleet')), ...(await subscribers(b.port, 20, 'fleet'))];
    const pa = await connectV1(a.port);
    const pb = await connectV1(b.port);
    await Promise.all([publishMany(pa, 'fleet', 'A', 1000), publishMany(pb, 'fleet', 'B', 1000)]);
    await expectAllInOrder(subs, 'fleet', 1000);

    const h = await pa.request({ publish: 'room.c', data: 1 });
    for (let i = 2; i <= 30; i++) await pb.request({ publish: 'room.c', data: i });
    const late = await connectV1(a.port);
    expect(await late.request({ subscribe: 'room.c', since: { offset: 1, epoch: h.epoch } })).toMatchObject({ recovered: true, offset: 30 });
    expect(offsets(late.pubs.get('room.c') ?? [])).toEqual(range(2, 30));
  }, 120_000);
});

describe('a fleet when Redis fails', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => redis?.stop());

  /** Publishes `{p, i}` on node A every 20 ms (no id: the fast path), counting. */
  function ticker(client: V1Client, topic: string) {
    let i = 0;
    const timer = setInterval(() => client.ws.send(JSON.stringify({ publish: topic, data: { p: 'A', i: ++i } })), 20);
    return { stop: () => clearInterval(timer), count: () => i };
  }

  const seen = (c: V1Client, topic: string): number[] => (c.pubs.get(topic) ?? []).map((x) => (x.data as { i: number }).i);

  it('Redis killed and restarted mid-stream: no crash, local delivery kept, cross-node delivery and recovery back within 5 s, gaps filled or resynced', async () => {
    const a = await node({ url: redis.url });
    const b = await node({ url: redis.url });
    const localSub = (await subscribers(a.port, 1, 'plain.o'))[0] as V1Client;
    const remoteSub = (await subscribers(b.port, 1, 'plain.o'))[0] as V1Client;
    const historySub = (await subscribers(b.port, 1, 'room.o'))[0] as V1Client;
    const pub = await connectV1(a.port);
    const t = ticker(pub, 'plain.o');
    for (let i = 1; i <= 5; i++) expect(await pub.request({ publish: 'room.o', data: i })).toMatchObject({ offset: i });
    await remoteSub.waitForPubs('plain.o', 10);

    await redis.kill('SIGKILL');
    const killedAt = t.count();
    await new Promise((r) => setTimeout(r, 300));
    const down = await pub.request({ publish: 'room.o', data: 'while down' });
    expect(down).toMatchObject({ error: { code: 'SHARDLINE_BROKER_UNAVAILABLE', retryable: true } });
    const recovering = await connectV1(b.port);
    expect(await recovering.request({ subscribe: 'room.o', since: { offset: 1, epoch: 'x' } })).toMatchObject({ error: { retryable: true } });
    await new Promise((r) => setTimeout(r, 1500));
    // Local delivery went on while Redis was down.
    expect(Math.max(...seen(localSub, 'plain.o'))).toBeGreaterThan(killedAt + 20);

    await redis.start();
    const backAt = performance.now();
    const mark = t.count();
    // Cross-node delivery resumes: B's subscriber gets a publication made after the restart.
    while (!seen(remoteSub, 'plain.o').some((i) => i > mark)) {
      expect(performance.now() - backAt).toBeLessThan(5000);
      await new Promise((r) => setTimeout(r, 50));
    }
    // History publishes work again (a new epoch: Redis came back empty).
    let after: Record<string, unknown> = {};
    while (!(after.ok === true)) {
      expect(performance.now() - backAt).toBeLessThan(5000);
      after = await pub.request({ publish: 'room.o', data: 'after' });
    }
    // The history subscriber on B either received a gapless sequence or was told to resync: never a silent hole.
    await new Promise((r) => setTimeout(r, 300));
    const resynced = historySub.frames.some((f) => f.resync === 'room.o');
    const got = offsets(historySub.pubs.get('room.o') ?? []);
    if (!resynced) expect(got).toEqual(range(1, got.length));
    else expect(got.slice(0, 5)).toEqual(range(1, 5));
    t.stop();
    // Both nodes are alive and still ready.
    for (const n of [a, b]) expect(n.child.exitCode).toBe(null);
    expect(a.logs.some((l) => l.msg.startsWith('broker down'))).toBe(true);
    expect(a.logs.some((l) => l.msg.startsWith('broker up'))).toBe(true);
  });

  it('CLIENT KILL TYPE pubsub and DEBUG SLEEP 2: subscriptions come back, nothing hangs, no node crashes', async () => {
    const a = await node({ url: redis.url });
    const b = await node({ url: redis.url });
    const remoteSub = (await subscribers(b.port, 1, 'plain.k'))[0] as V1Client;
    const pub = await connectV1(a.port);
    const t = ticker(pub, 'plain.k');
    await remoteSub.waitForPubs('plain.k', 5);
    await redis.raw('CLIENT KILL TYPE pubsub');
    const mark = t.count();
    const t0 = performance.now();
    while (!seen(remoteSub, 'plain.k').some((i) => i > mark + 5)) {
      expect(performance.now() - t0).toBeLessThan(5000);
      await new Promise((r) => setTimeout(r, 50));
    }
    void redis.raw('DEBUG SLEEP 2');
    await new Promise((r) => setTimeout(r, 100));
    const slow = await pub.request({ publish: 'room.k', data: 1 }, 10_000);
    // Either it made it after the sleep, or it failed fast with a retryable error: never a hang.
    expect(slow.ok === true || (slow.error as { retryable?: boolean }).retryable === true).toBe(true);
    const mark2 = t.count();
    const t1 = performance.now();
    while (!seen(remoteSub, 'plain.k').some((i) => i > mark2 + 5)) {
      expect(performance.now() - t1).toBeLessThan(8000);
      await new Promise((r) => setTimeout(r, 50));
    }
    t.stop();
    for (const n of [a, b]) expect(n.child.exitCode).toBe(null);
  });
});
