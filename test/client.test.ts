/**
 * shardline/client against real shardline processes (and real TCP breakage
 * through a proxy): reconnect after a drain, recovery, outbox resend without
 * duplicates, dead links, a server refusing upgrades, terminal codes.
 */
import { describe, expect, it } from 'vitest';
import { type PublicationContext, type SubscribedEvent } from '../src/client/index.js';
import { next, openClient, until } from './helpers/client-lib.js';
import { startRefusingServer } from './helpers/refusing-server.js';
import { FIXTURES, startServer, type ServerProcess } from './helpers/server.js';
import { startProxy } from './helpers/tcp-proxy.js';

const APP = ['--app', `${FIXTURES}v1-lite.mjs`, '--shards', '1'];
const url = (port: number): string => `ws://127.0.0.1:${port}/`;

function start(extra: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<ServerProcess> {
  return startServer([...APP, ...extra], { env });
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

  it('fills a gap in offsets by resubscribing that topic alone, and obeys a resync', async () => {
    const srv = await start();
    const x = openClient(url(srv.port));
    const got: number[] = [];
    const other: number[] = [];
    const sub = x.client.subscribe('gappy', (d) => got.push(d as number));
    x.client.subscribe('calm', (d) => other.push(d as number));
    const subscribedEvents: (boolean | undefined)[] = [];
    sub.on('subscribed', (e) => subscribedEvents.push(e.recovered));
    await next(x.client, 'connected');
    const calmResubscribes: unknown[] = [];
    x.client.subs.get('calm')?.on('subscribed', (e) => calmResubscribes.push(e));
    await x.client.publish('gappy', 1);
    await x.client.request({ publish: 'gappy', data: 2, silent: true }); // lost on its way to subscribers
    await x.client.publish('gappy', 3); // offset 3 after 1: a gap
    await until(() => got.length === 3, 'the gap to be filled');
    expect(got).toEqual([1, 2, 3]);
    expect(subscribedEvents).toEqual([undefined, true]);
    // The server drops the subscription and asks for a resync: the client resubscribes with since.
    await x.client.request({ resyncMe: 'gappy' });
    await until(() => subscribedEvents.length === 3, 'the resubscribe after resync');
    await x.client.publish('gappy', 4);
    await x.client.publish('calm', 1);
    await until(() => got.length === 4 && other.length === 1, 'live publications after the resync');
    expect(got).toEqual([1, 2, 3, 4]);
    expect(calmResubscribes).toEqual([]); // the other topic was left alone
    expect(x.count('disconnected')).toBe(0);
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
    const srv = await start([], { V1_PING_SEC: '1' });
    const proxy = await startProxy(srv.port);
    const x = openClient(url(proxy.port), { pingTimeoutMs: 1_000 });
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

  it('reconnects within the retry window a planned close announces', async () => {
    const srv = await start();
    const x = openClient(url(srv.port));
    await next(x.client, 'connected');
    const d = next(x.client, 'disconnected');
    void x.client.request({ kick: 1012, reason: '{"reason":"restart","retryMs":300}' }).catch(() => {});
    const ev = await d;
    expect(ev.code).toBe(1012);
    expect(ev.reason).toBe('restart');
    expect(ev.reconnectInMs).toBeLessThan(300);
    await next(x.client, 'connected');
  });

  it('stops on a terminal close code and surfaces the error', async () => {
    const srv = await start();
    const x = openClient(url(srv.port));
    await next(x.client, 'connected');
    const pending = x.client.publish('t', 1).catch((e: unknown) => e);
    const closed = next(x.client, 'closed');
    void x.client.request({ kick: 4500, reason: 'banned' }).catch(() => {});
    const ev = await closed;
    expect(ev.error?.code).toBe('SHARDLINE_CLIENT_TERMINAL_CLOSE');
    expect(ev.error?.closeCode).toBe(4500);
    expect(x.client.state).toBe('closed');
    await new Promise((r) => setTimeout(r, 1_000));
    expect(x.count('connecting')).toBe(1);
    await pending;
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
    const gaps = refusing.attempts.slice(1).map((t, i) => t - refusing.attempts[i]!);
    for (let i = 1; i < gaps.length; i++) expect(gaps[i]!).toBeGreaterThan(gaps[i - 1]!);
    const delays = x.events.filter((e) => e.name === 'disconnected').map((e) => (e.payload as { reconnectInMs: number }).reconnectInMs);
    expect(delays.slice(0, 4)).toEqual([750, 1000, 1500, 2500]);
    expect(x.client.state).not.toBe('closed');
  });
});
