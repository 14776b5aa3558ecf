/**
 * shardline/client against a real shardline process running a small app that
 * speaks protocol v1 and misbehaves on cue (test/fixtures/v1-lite.mjs): a
 * publication lost on its way to subscribers (a gap), a resync, a planned
 * close announcing its retry window (until a node can be told to spread its
 * closes, drain.spreadMs).
 */
import { describe, expect, it } from 'vitest';
import { next, openClient, startSlowServer, until } from './helpers/client-lib.js';
import { FIXTURES, type ServerProcess } from './helpers/server.js';

const url = (port: number): string => `ws://127.0.0.1:${port}/`;

function start(): Promise<ServerProcess> {
  return startSlowServer(['--app', `${FIXTURES}v1-lite.mjs`, '--shards', '1']);
}

describe('shardline/client against a server that misbehaves on cue', () => {
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
});
