/**
 * Cross-shard publish through the primary, and the built-in app's protocol.
 */
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { connect, connectMany, type Client } from './helpers/client.js';
import { nonReaders } from './helpers/non-reader.js';
import { FIXTURES, configFile, startServer } from './helpers/server.js';

/** `n` clients subscribed to `topic` with the built-in app (its echo confirms each subscription). */
async function subscribed(port: number, n: number, topic: string): Promise<Client[]> {
  const clients = await connectMany(port, n);
  for (const c of clients) c.ws.send(JSON.stringify({ subscribe: topic }));
  await Promise.all(clients.map((c) => c.waitFor(1)));
  return clients;
}

describe('publish', () => {
  it('reaches every subscriber on every one of 4 shards exactly once, in order', async () => {
    const server = await startServer(['--shards', '4', '--app', join(FIXTURES, 'whoami.mjs')]);
    const subs = await connectMany(server.port, 40);
    await Promise.all(subs.map((s) => s.waitFor(1)));
    const shards = new Set(subs.map((s) => s.messages[0]));
    expect(shards.size).toBe(4); // the subscribers really are spread over all shards

    for (const s of subs) s.ws.send(JSON.stringify({ subscribe: 'news' }));
    await Promise.all(subs.map((s) => s.waitFor(2))); // the echo confirms the subscription

    const publisher = await connect(server.port);
    await publisher.waitFor(1);
    const N = 50;
    for (let i = 0; i < N; i++) publisher.ws.send(JSON.stringify({ publish: 'news', data: i }));
    await Promise.all(subs.map((s) => s.waitFor(2 + N)));
    await sleep(200); // anything duplicated would arrive by now

    for (const s of subs) {
      const got = s.messages.slice(2).map((m) => JSON.parse(String(m)) as { topic: string; data: number });
      expect(got).toEqual(Array.from({ length: N }, (_, i) => ({ topic: 'news', data: i })));
    }
    // The publisher is not subscribed: it only got its echoes.
    await publisher.waitFor(1 + N);
    expect(publisher.messages.slice(1).every((m) => String(m).startsWith('{"publish"'))).toBe(true);

    server.signal('SIGTERM');
    expect((await server.exited).code).toBe(0);
  });

  it("a fan-out too big for one turn is written in slices and keeps every socket's order, sends included", async () => {
    const server = await startServer(['--shards', '1']);
    const subs = await subscribed(server.port, 1500, 'wide');
    // Subscribed last, so it sits at the end of the fan-out, in the part written in later turns.
    const [publisher] = (await subscribed(server.port, 1, 'wide')) as [Client];

    const N = 10;
    const data = 'y'.repeat(4096);
    const commands = Array.from({ length: N }, (_, i) => JSON.stringify({ publish: 'wide', data: `${i}:${data}` }));
    for (const c of commands) publisher.ws.send(c);
    // The built-in app publishes, then echoes the command to the publisher: the echo,
    // a direct send, must not overtake the publication still waiting for this socket.
    await publisher.waitFor(1 + 2 * N, 30_000);
    const label = (m: unknown): string => {
      const o = JSON.parse(String(m)) as { topic?: string; publish?: string; data: string };
      return `${o.topic !== undefined ? 'publication' : 'echo'} ${o.data.split(':')[0]}`;
    };
    expect(publisher.messages.slice(1).map(label)).toEqual(Array.from({ length: N }, (_, i) => [`publication ${i}`, `echo ${i}`]).flat());
    await Promise.all(subs.map((s) => s.waitFor(1 + N, 30_000)));
    for (const s of [subs[0], subs[749], subs[1499]]) {
      const seq = s!.messages.slice(1).map((m) => Number((JSON.parse(String(m)) as { data: string }).data.split(':')[0]));
      expect(seq).toEqual(Array.from({ length: N }, (_, i) => i));
    }
    server.signal('SIGTERM');
    expect((await server.exited).code).toBe(0);
  }, 60_000);

  it("a subscriber's own replies do not wait for a fan-out to the other subscribers", async ({ annotate }) => {
    const server = await startServer(['--shards', '1']);
    const others = await subscribed(server.port, 1000, 'room');
    const [me] = (await subscribed(server.port, 1, 'room')) as [Client];

    // A burst of 100 publications to 1,001 subscribers: 100,100 writes the shard does in slices.
    const N = 100;
    const data = 'z'.repeat(1024);
    const t0 = performance.now();
    for (let i = 0; i < N; i++) me.ws.send(JSON.stringify({ publish: 'room', data: `${i}:${data}` }));
    me.ws.send('ping');
    // Mine: each publication, the echo of its command, and last the echo of 'ping'.
    await me.waitFor(1 + 2 * N + 1, 30_000);
    const echoed = performance.now() - t0;
    expect(me.messages.at(-1)).toBe('ping');
    await Promise.all(others.map((s) => s.waitFor(1 + N, 30_000)));
    const everyone = performance.now() - t0;
    await annotate(`'ping' echoed after ${echoed.toFixed(0)} ms; every other subscriber had all ${N} publications after ${everyone.toFixed(0)} ms`);
    // Its 'ping' goes out once the publications due to it are written, not once all 100,100 are.
    expect(echoed).toBeLessThan(everyone / 3);
    server.signal('SIGTERM');
    expect((await server.exited).code).toBe(0);
  }, 60_000);

  it('a publication made by the close hook of a socket that a fan-out cut off goes out after that fan-out', async () => {
    // A queue of 8 KiB: the non-reader is written 3 publications of 8,000 bytes (until its first
    // 16 KiB window is spent), queues a fourth, and the fifth cuts it off, first thing in its fan-out.
    const file = configFile({ app: join(FIXTURES, 'leave.mjs'), backpressure: { maxQueueBytes: 8192 } });
    const server = await startServer(['--shards', '1', '--config', file]);
    const nonReader = await nonReaders(server.port, 1, JSON.stringify({ subscribe: 'room' }));
    const readers = await connectMany(server.port, 20);
    for (const r of readers) r.ws.send(JSON.stringify({ subscribe: 'room' }));
    await Promise.all(readers.map((r) => r.waitFor(1)));
    const publisher = await connect(server.port);
    const sent = Array.from({ length: 5 }, (_, i) => `${i}:${'x'.repeat(7998)}`);
    // One at a time, so that the readers' windows open as they read.
    for (const [i, data] of sent.entries()) {
      publisher.ws.send(JSON.stringify({ publish: 'room', data }));
      await Promise.all(readers.map((r) => r.waitFor(1 + i + 1)));
    }
    await Promise.all(readers.map((r) => r.waitFor(1 + sent.length + 1)));
    for (const r of readers) expect(r.messages.slice(1)).toEqual([...sent, 'left']);
    expect(await nonReader[0]!.finish()).toBe(1008);
    server.signal('SIGTERM');
    expect((await server.exited).code).toBe(0);
  });

  it('stops delivering after unsubscribe', async () => {
    const server = await startServer(['--shards', '2']);
    const sub = await connect(server.port);
    const pub = await connect(server.port);
    sub.ws.send(JSON.stringify({ subscribe: 't' }));
    await sub.waitFor(1);
    pub.ws.send(JSON.stringify({ publish: 't', data: 'one' }));
    await sub.waitFor(2);
    sub.ws.send(JSON.stringify({ unsubscribe: 't' }));
    await sub.waitFor(3);
    pub.ws.send(JSON.stringify({ publish: 't', data: 'two' }));
    await pub.waitFor(2);
    await sleep(200);
    expect(sub.messages.map(String)).toEqual(['{"subscribe":"t"}', '{"topic":"t","data":"one"}', '{"unsubscribe":"t"}']);
    server.signal('SIGTERM');
    expect((await server.exited).code).toBe(0);
  });
});

describe('built-in app', () => {
  it('echoes text and binary, and answers health checks', async () => {
    const server = await startServer(['--shards', '2']);
    const c = await connect(server.port);
    c.ws.send('hello');
    c.ws.send(Buffer.from([0, 1, 2, 255]));
    c.ws.send('{not json');
    await c.waitFor(3);
    expect(c.messages[0]).toBe('hello');
    expect(Buffer.isBuffer(c.messages[1]) && [...(c.messages[1] as Buffer)]).toEqual([0, 1, 2, 255]);
    expect(c.messages[2]).toBe('{not json');
    const { httpStatus } = await import('./helpers/client.js');
    expect(await httpStatus(server.port, '/healthz')).toBe(200);
    expect(await httpStatus(server.port, '/readyz')).toBe(200);
    expect(await httpStatus(server.port, '/nope')).toBe(404);
    server.signal('SIGTERM');
    expect((await server.exited).code).toBe(0);
  });
});
