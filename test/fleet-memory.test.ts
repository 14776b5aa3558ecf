/**
 * Protocol v1 of the built-in app, history and recovery on one node with the
 * memory broker (a real server process with 2 shards, real `ws` clients).
 */
import { describe, expect, it } from 'vitest';
import { configFile, startServer } from './helpers/server.js';
import { connectV1, offsets, range } from './helpers/v1.js';
import { connect } from './helpers/client.js';

const HISTORY = [
  { match: 'room.*', size: 1000, ttlSec: 600 },
  { match: 'tiny.*', size: 5, ttlSec: 600 },
];

async function node(extra: Record<string, unknown> = {}) {
  return startServer(['--config', configFile({ shards: 2, history: HISTORY, ...extra })]);
}

describe('protocol v1 with the memory broker', () => {
  it('says hello only to clients that ask for shardline.v1, and answers commands by id', async () => {
    const srv = await node({ nodeId: 'node-a' });
    const c = await connectV1(srv.port);
    expect(c.hello).toMatchObject({ protocol: 1, node: 'node-a', pingSec: 25, limits: { maxPayloadBytes: 65536, idempotencySec: 300 } });
    expect(await c.request({ ping: 1 })).toEqual({ id: 1, ok: true });
    expect(await c.request({ subscribe: 'plain' })).toEqual({ id: 2, ok: true });
    expect(await c.request({ unsubscribe: 'plain' })).toEqual({ id: 3, ok: true });
    const bad = await c.request({ subscribe: 42 });
    expect(bad).toMatchObject({ id: 4, error: { code: 'SHARDLINE_BAD_COMMAND', retryable: false } });
    const long = await c.request({ subscribe: 'x'.repeat(300) });
    expect(long).toMatchObject({ id: 5, error: { code: 'SHARDLINE_TOPIC_INVALID' } });
    expect(await c.request({ frobnicate: 1 })).toMatchObject({ id: 6, error: { code: 'SHARDLINE_BAD_COMMAND' } });
    // The socket stays open after bad commands.
    expect(await c.request({ ping: 1 })).toEqual({ id: 7, ok: true });

    const plain = await connect(srv.port);
    plain.ws.send('hi');
    await plain.waitFor(1);
    expect(plain.messages).toEqual(['hi']); // no hello, plain echo
  });

  it('gives a history topic contiguous offsets and delivers them in order, exactly once, on every shard', async () => {
    const srv = await node();
    const subs = await Promise.all(Array.from({ length: 6 }, () => connectV1(srv.port)));
    for (const s of subs) expect(await s.request({ subscribe: 'room.1' })).toMatchObject({ ok: true, offset: 0 });
    const pubA = await connectV1(srv.port);
    const pubB = await connectV1(srv.port);
    const replies = await Promise.all(range(1, 100).map((i) => (i % 2 === 0 ? pubA : pubB).request({ publish: 'room.1', data: { i } })));
    expect(replies.map((r) => r.offset).sort((a, b) => (a as number) - (b as number))).toEqual(range(1, 100));
    const epoch = replies[0]?.epoch;
    for (const s of subs) {
      const got = await s.waitForPubs('room.1', 100);
      await new Promise((r) => setTimeout(r, 100));
      expect(offsets(s.pubs.get('room.1') ?? [])).toEqual(range(1, 100));
      expect(got.every((p) => p.epoch === epoch)).toBe(true);
    }
  });

  it('recovers exactly the missed publications after a reconnect, then live ones; recovered:false for another epoch or a trimmed gap', async () => {
    const srv = await node();
    const pub = await connectV1(srv.port);
    const a = await connectV1(srv.port);
    const sub = await a.request({ subscribe: 'room.r' });
    for (let i = 1; i <= 10; i++) await pub.request({ publish: 'room.r', data: i });
    await a.waitForPubs('room.r', 10);
    const last = a.pubs.get('room.r')?.at(-1);
    a.ws.close();
    await a.closed;
    for (let i = 11; i <= 110; i++) await pub.request({ publish: 'room.r', data: i });

    const b = await connectV1(srv.port);
    const reply = await b.request({ subscribe: 'room.r', since: { offset: last?.offset, epoch: sub.epoch } });
    expect(reply).toMatchObject({ ok: true, recovered: true, offset: 110, epoch: sub.epoch });
    // The 100 missed came before the reply, in order.
    const replyIndex = b.frames.findIndex((f) => f.id === 1);
    const before = b.frames.slice(0, replyIndex).filter((f) => f.topic === 'room.r');
    expect(before.map((f) => f.offset)).toEqual(range(11, 110));
    expect(before.map((f) => f.data)).toEqual(range(11, 110));
    await pub.request({ publish: 'room.r', data: 111 });
    await b.waitForPubs('room.r', 101);
    expect(offsets(b.pubs.get('room.r') ?? [])).toEqual(range(11, 111));

    const other = await connectV1(srv.port);
    expect(await other.request({ subscribe: 'room.r', since: { offset: 5, epoch: 'another-epoch' } })).toMatchObject({
      ok: true,
      recovered: false,
      offset: 111,
    });
    for (let i = 1; i <= 20; i++) await pub.request({ publish: 'tiny.t', data: i });
    const trimmed = await connectV1(srv.port);
    const t = await trimmed.request({ subscribe: 'tiny.t', since: { offset: 3, epoch: sub.epoch } });
    expect(t).toMatchObject({ ok: true, recovered: false, offset: 20 });
    await new Promise((r) => setTimeout(r, 100));
    expect(trimmed.pubs.get('tiny.t') ?? []).toEqual([]); // never a partial replay
    const upToDate = await connectV1(srv.port);
    expect(await upToDate.request({ subscribe: 'tiny.t', since: { offset: 20, epoch: sub.epoch } })).toMatchObject({ recovered: true, offset: 20 });
  });

  it('pages a replay larger than the write queue instead of cutting the client off', async () => {
    const srv = await node({ backpressure: { maxQueueBytes: 65536 } });
    const pub = await connectV1(srv.port);
    const first = await pub.request({ publish: 'room.big', data: 'x'.repeat(1000) });
    await Promise.all(range(2, 600).map(() => pub.request({ publish: 'room.big', data: 'x'.repeat(1000) })));
    const c = await connectV1(srv.port);
    const r = await c.request({ subscribe: 'room.big', since: { offset: 0, epoch: first.epoch } }, 30_000);
    expect(r).toMatchObject({ ok: true, recovered: true, offset: 600 });
    expect(offsets(c.pubs.get('room.big') ?? [])).toEqual(range(1, 600));
  });

  it('publishes an idempotent publish once, and answers the repeat with the first result', async () => {
    const srv = await node();
    const sub = await connectV1(srv.port);
    await sub.request({ subscribe: 'room.k' });
    await sub.request({ subscribe: 'plain.k' });
    const pub = await connectV1(srv.port);
    const one = await pub.request({ publish: 'room.k', data: 'once', key: 'k-1' });
    const two = await pub.request({ publish: 'room.k', data: 'once', key: 'k-1' });
    expect(two).toEqual({ ...one, id: two.id });
    await pub.request({ publish: 'plain.k', data: 'p', key: 'k-1' });
    await pub.request({ publish: 'plain.k', data: 'p', key: 'k-1' });
    await pub.request({ publish: 'room.k', data: 'after' });
    await sub.waitForPubs('room.k', 2);
    await new Promise((r) => setTimeout(r, 100));
    expect((sub.pubs.get('room.k') ?? []).map((p) => p.data)).toEqual(['once', 'after']);
    expect((sub.pubs.get('plain.k') ?? []).map((p) => p.data)).toEqual(['p']);
  });

  it('a restarted memory broker has a new epoch: recovery says recovered:false', async () => {
    const first = await node();
    const pub = await connectV1(first.port);
    const r = await pub.request({ publish: 'room.e', data: 1 });
    first.signal('SIGTERM');
    expect((await first.exited).code).toBe(0);
    const second = await node();
    const c = await connectV1(second.port);
    const again = await c.request({ subscribe: 'room.e', since: { offset: r.offset, epoch: r.epoch } });
    expect(again).toMatchObject({ ok: true, recovered: false, offset: 0 });
    expect(again.epoch).not.toBe(r.epoch);
  });
});

describe('publish() without a socket', () => {
  it('publishes from a shard timer and from the thread that started the server', async () => {
    const { startServer: start } = await import('../dist/src/index.js');
    const { pino } = await import('pino');
    const { connect: plain } = await import('./helpers/client.js');
    const { FIXTURES } = await import('./helpers/server.js');
    const server = await start({
      config: { port: 0, host: '127.0.0.1', shards: 2, app: `${FIXTURES}standalone-publish.mjs`, history: [{ match: 'h', size: 10, ttlSec: 60 }] },
      logger: pino({ level: 'silent' }),
    });
    const subs = await Promise.all([plain(server.port), plain(server.port), plain(server.port)]);
    for (const s of subs) {
      s.ws.send('sub h');
      await s.waitFor(1);
    }
    const caller = await plain(server.port);
    caller.ws.send('go h');
    await caller.waitFor(1);
    expect(JSON.parse(String(caller.messages[0]))).toMatchObject({ ok: true, duplicate: false, position: { offset: 1 } });
    const { publish } = await import('../dist/src/index.js');
    const outcome = await publish('h', 'from the primary', { key: 'once' });
    expect(outcome).toMatchObject({ ok: true, position: { offset: 2 } });
    expect(await publish('h', 'from the primary', { key: 'once' })).toMatchObject({ ok: true, duplicate: true, position: { offset: 2 } });
    expect(await publish('', 'x')).toMatchObject({ ok: false, error: { code: 'SHARDLINE_TOPIC_INVALID' } });
    for (const s of subs) {
      await s.waitFor(3);
      expect(s.messages.slice(1)).toEqual(['from a timer', 'from the primary']);
    }
    expect((await server.drain()).exitCode).toBe(0);
  });
});
