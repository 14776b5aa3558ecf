/**
 * shardline/client against real shardline processes running the built-in
 * app (protocol v1, memory broker, history on every topic), with real TCP
 * breakage through a proxy: reconnect after a drain, recovery, outbox resend
 * without duplicates, dead links, a server refusing upgrades, terminal codes.
 * test/client-fixture.test.ts covers what needs a server to misbehave on cue.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import type { PublicationContext, SubscribedEvent } from '../src/client/index.js';
import { next, openClient, startSlowServer, until } from './helpers/client-lib.js';
import { startRedis } from './helpers/redis.js';
import { startRefusingServer } from './helpers/refusing-server.js';
import { configFile, type ServerProcess } from './helpers/server.js';
import { startProxy } from './helpers/tcp-proxy.js';

const url = (port: number): string => `ws://127.0.0.1:${port}/`;

/** The built-in app with history on every topic; `config` adds or overrides keys. */
function start(extra: string[] = [], config: Record<string, unknown> = {}): Promise<ServerProcess> {
  const file = configFile({ shards: 1, history: [{ match: '**', size: 100, ttlSec: 300 }], ...config });
  return startSlowServer(['--config', file, ...extra]);
}

interface Got {
  data: unknown;
  ctx: PublicationContext;
}

describe('shardline/client against a real server', () => {
  it('connects after the hello, publishes through the outbox and receives with offsets', async () => {
    const srv = await start();
    const { client } = openClient(url(srv.port));
    const got: Got[] = [];
    const sub = client.subscribe('news', (data, ctx) => got.push({ data, ctx }));
    const subscribed = new Promise<SubscribedEvent>((r) => sub.on('subscribed', r));
    const connected = await next(client, 'connected');
    expect(connected.hello.protocol).toBe(1);
    expect(client.state).toBe('connected');
    expect((await subscribed).recovered).toBeUndefined();
    const r1 = await client.publish('news', { n: 1 });
    const r2 = await client.publish('news', { n: 2 });
    expect(r2.offset).toBe((r1.offset ?? 0) + 1);
    await until(() => got.length === 2, 'two publications');
    expect(got.map((g) => g.data)).toEqual([{ n: 1 }, { n: 2 }]);
    expect(got.map((g) => g.ctx.offset)).toEqual([r1.offset, r2.offset]);
    expect(sub.position).toEqual({ offset: r2.offset, epoch: r2.epoch });
  });

  it('request() gets replies by id, and the server code on an error', async () => {
    const srv = await start();
    const { client } = openClient(url(srv.port));
    await expect(client.request({ ping: 1 })).resolves.toMatchObject({ ok: true });
    await expect(client.request({ frobnicate: 1 })).rejects.toMatchObject({ code: 'SHARDLINE_BAD_COMMAND' });
    await expect(client.request({ id: 5, ping: 1 })).rejects.toMatchObject({ code: 'SHARDLINE_CLIENT_BAD_ARGUMENT' });
  });

  it('reconnects after a drain (SIGTERM, 1001) to the server that replaced it, resubscribed', async () => {
    const a = await start();
    const port = a.port;
    const rec = openClient(url(port));
    const got: unknown[] = [];
    const sub = rec.client.subscribe('news', (d) => got.push(d));
    await next(rec.client, 'connected');
    await rec.client.publish('news', 'before');
    const disconnected = next(rec.client, 'disconnected');
    a.signal('SIGTERM');
    const d = await disconnected;
    expect(d.code).toBe(1001);
    expect(d.reconnectInMs).toBeLessThanOrEqual(3_000); // planned: no failure backoff
    expect((await a.exited).code).toBe(0);
    const resubscribed = new Promise<SubscribedEvent>((r) => sub.on('subscribed', r));
    await start(['--port', String(port)]);
    await next(rec.client, 'connected');
    // A new process has a new history (another epoch): the app is told it must reload.
    expect((await resubscribed).recovered).toBe(false);
    await rec.client.publish('news', 'after');
    await until(() => got.length === 2, 'the publication after the reconnect');
    expect(got).toEqual(['before', 'after']);
    expect(rec.count('closed')).toBe(0);
  });

  it('recovers across a drain, on another node sharing the same Redis: every publication once, recovered:true', async () => {
    const redis = await startRedis();
    onTestFinished(() => redis.stop());
    const fleet = { broker: { type: 'redis', url: redis.url } };
    const [a, b] = await Promise.all([start([], fleet), start([], fleet)]);
    const proxy = await startProxy(a.port); // the load balancer
    const x = openClient(url(proxy.port));
    const got: number[] = [];
    const sub = x.client.subscribe('fleet', (d) => got.push(d as number));
    await next(x.client, 'connected');
    const pub = openClient(url(b.port)); // publishes on the node that stays
    await next(pub.client, 'connected');
    for (let i = 1; i <= 3; i++) await pub.client.publish('fleet', i);
    await until(() => got.length === 3, 'three publications through node A');
    proxy.target = b.port; // A is draining: the balancer sends new connections to B
    const disconnected = next(x.client, 'disconnected');
    a.signal('SIGTERM');
    expect((await disconnected).code).toBe(1001);
    for (let i = 4; i <= 8; i++) await pub.client.publish('fleet', i); // while x moves
    const recovered = new Promise<SubscribedEvent>((r) => sub.on('subscribed', r));
    await next(x.client, 'connected');
    expect((await recovered).recovered).toBe(true);
    await pub.client.publish('fleet', 9);
    await until(() => got.length >= 9, 'nine publications');
    expect(got).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect((await a.exited).code).toBe(0);
  });

  it('recovers the publications missed while the link was cut, each once and in order', async () => {
    const srv = await start();
    const proxy = await startProxy(srv.port);
    const x = openClient(url(proxy.port));
    const got: number[] = [];
    const sub = x.client.subscribe('feed', (d) => got.push(d as number));
    await next(x.client, 'connected');
    const y = openClient(url(srv.port));
    await next(y.client, 'connected');
    for (let i = 1; i <= 5; i++) await y.client.publish('feed', i);
    await until(() => got.length === 5, 'five publications');
    const disconnected = next(x.client, 'disconnected');
    proxy.cut();
    expect((await disconnected).code).toBe(1006);
    for (let i = 6; i <= 10; i++) await y.client.publish('feed', i); // while x is away
    const recovered = new Promise<SubscribedEvent>((r) => sub.on('subscribed', r));
    await next(x.client, 'connected');
    expect((await recovered).recovered).toBe(true);
    await until(() => got.length >= 10, 'ten publications');
    await y.client.publish('feed', 11);
    await until(() => got.length >= 11, 'the live one after recovery');
    expect(got).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  });

  it('resends unacknowledged publishes after a reconnect with their keys: each is published once', async () => {
    const srv = await start();
    const proxy = await startProxy(srv.port);
    const x = openClient(url(proxy.port));
    await next(x.client, 'connected');
    const y = openClient(url(srv.port));
    const seen: number[] = [];
    y.client.subscribe('orders', (d) => seen.push(d as number));
    await next(y.client, 'connected');
    // Requests reach the server, its replies are lost: applied but unacknowledged.
    proxy.mode = 'drop-replies';
    const promises = [1, 2, 3, 4, 5].map((i) => x.client.publish('orders', i));
    await until(() => seen.length === 5, 'the server to apply all five');
    expect(x.client.outbox.size).toBe(5);
    proxy.cut();
    proxy.mode = 'pass';
    const results = await Promise.all(promises);
    // The resends were deduplicated: the original offsets come back, nothing was published twice.
    expect(results.map((r) => r.offset)).toEqual([1, 2, 3, 4, 5]);
    await x.client.publish('orders', 99);
    await until(() => seen.includes(99), 'the marker publication');
    expect(seen).toEqual([1, 2, 3, 4, 5, 99]);
    expect(x.client.outbox.size).toBe(0);
  });

  it('queues publishes made while disconnected, bounded, and sends them after the hello', async () => {
    const srv = await start();
    const proxy = await startProxy(srv.port);
    proxy.mode = 'blackhole'; // TCP opens, the hello never arrives
    const x = openClient(url(proxy.port), { outbox: { maxMessages: 3 } });
    const queued = [1, 2, 3].map((i) => x.client.publish('q', i));
    await expect(x.client.publish('q', 4)).rejects.toMatchObject({ code: 'SHARDLINE_CLIENT_OUTBOX_FULL' });
    expect(x.client.state).toBe('connecting');
    proxy.cut();
    proxy.mode = 'pass';
    const results = await Promise.all(queued);
    expect(results.map((r) => r.offset)).toEqual([1, 2, 3]);
  });

  it('finds a dead link by its ping and reconnects', async () => {
    const srv = await start();
    const proxy = await startProxy(srv.port);
    const x = openClient(url(proxy.port), { pingSec: 1, pingTimeoutMs: 1_000 });
    await next(x.client, 'connected');
    proxy.mode = 'blackhole'; // no FIN, no RST: only a ping can tell
    const d = await next(x.client, 'disconnected', 10_000);
    expect(d.reason).toBe('ping timeout');
    proxy.mode = 'pass';
    await next(x.client, 'connected');
    expect(proxy.accepted).toBe(2);
  });

  it('keeps one socket at a time while connection attempts time out', async () => {
    const srv = await start();
    const proxy = await startProxy(srv.port);
    proxy.mode = 'blackhole';
    const x = openClient(url(proxy.port), { connectTimeoutMs: 300, backoff: { floorMs: 100, capMs: 200 } });
    let maxOpen = 0;
    const start0 = performance.now();
    while (performance.now() - start0 < 3_000) {
      maxOpen = Math.max(maxOpen, proxy.open);
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(proxy.accepted).toBeGreaterThanOrEqual(4); // it did retry
    expect(maxOpen).toBe(1);
    expect(x.count('disconnected')).toBeGreaterThanOrEqual(3);
  });

  it('stops on a terminal close code and surfaces the error (a drain closing with 4500)', async () => {
    const srv = await start([], { drain: { closeCode: 4500, closeReason: 'gone for good' } });
    const x = openClient(url(srv.port));
    await next(x.client, 'connected');
    const closed = next(x.client, 'closed');
    srv.signal('SIGTERM');
    const ev = await closed;
    expect(ev.error?.code).toBe('SHARDLINE_CLIENT_TERMINAL_CLOSE');
    expect(ev.error?.closeCode).toBe(4500);
    expect(x.client.state).toBe('closed');
    await new Promise((r) => setTimeout(r, 1_000));
    expect(x.count('connecting')).toBe(1);
    await expect(x.client.publish('t', 2)).rejects.toMatchObject({ code: 'SHARDLINE_CLIENT_CLOSED' });
  });

  it('backs off against a server that answers 503 to every upgrade, and does not spin', async () => {
    const refusing = await startRefusingServer();
    // random() = 0.5: delays 750, 1000, 1500, 2500, 4500 ms
    const x = openClient(url(refusing.port), { random: () => 0.5 });
    await new Promise((r) => setTimeout(r, 6_000));
    const n = refusing.attempts.length;
    expect(n).toBeGreaterThanOrEqual(3);
    expect(n).toBeLessThanOrEqual(5);
    const delays = x.events.filter((e) => e.name === 'disconnected').map((e) => (e.payload as { reconnectInMs: number }).reconnectInMs);
    expect(delays.slice(0, 4)).toEqual([750, 1000, 1500, 2500]);
    // Each attempt came no sooner than its backoff after the one before (a busy machine only makes gaps longer).
    const gaps = refusing.attempts.slice(1).map((t, i) => t - refusing.attempts[i]!);
    gaps.forEach((gap, i) => expect(gap).toBeGreaterThanOrEqual(delays[i]! - 5));
    expect(x.client.state).not.toBe('closed');
  });
});
