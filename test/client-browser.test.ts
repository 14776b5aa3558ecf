/**
 * The prebuilt browser file in headless Chromium: a page loads it, connects,
 * subscribes, recovers after its link is cut, survives a drain of the node it
 * was on (moving to the other node on the same Redis, and recovering what was
 * published meanwhile), and stays quiet while the browser is offline.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { next, openClient, startSlowServer } from './helpers/client-lib.js';
import { launchChromium, servePage } from './helpers/browser.js';
import { startRedis } from './helpers/redis.js';
import { configFile } from './helpers/server.js';
import { startProxy } from './helpers/tcp-proxy.js';

/** A node: the built-in app (protocol v1) with history on every topic, on the Redis at `redisUrl`. */
const start = (redisUrl: string): ReturnType<typeof startSlowServer> =>
  startSlowServer(['--config', configFile({ shards: 1, broker: { type: 'redis', url: redisUrl }, history: [{ match: '**', size: 100, ttlSec: 300 }] })]);

/** The page: everything the client reports goes into window.__log for the test to read. */
const page = (wsUrl: string): string => `<!doctype html><meta charset="utf-8"><title>shardline client</title>
<script type="module">
  import { createClient } from '/shardline-client.min.js';
  const log = (window.__log = { events: [], got: [], subscribed: [] });
  const c = createClient(${JSON.stringify(wsUrl)});
  for (const name of ['connecting', 'connected', 'disconnected', 'closed', 'error'])
    c.on(name, (p) => log.events.push({ name, code: p && p.code, reason: p && p.reason }));
  const sub = c.subscribe('news', (data, ctx) => log.got.push({ data, offset: ctx.offset }));
  sub.on('subscribed', (e) => log.subscribed.push(e.recovered === undefined ? null : e.recovered));
  window.__client = c;
</script>`;

interface PageLog {
  events: { name: string; code?: number; reason?: string }[];
  got: { data: unknown; offset: number }[];
  subscribed: (boolean | null)[];
}

describe('shardline/client in headless Chromium', () => {
  it('connects, subscribes, recovers after a cut, survives a drain, and waits for online', async () => {
    const redis = await startRedis();
    onTestFinished(() => redis.stop());
    const [a, b] = await Promise.all([start(redis.url), start(redis.url)]);
    const proxy = await startProxy(a.port);
    const context = await launchChromium();
    const tab = await context.newPage();
    const errors: string[] = [];
    tab.on('pageerror', (e) => errors.push(String(e)));
    await tab.goto(await servePage(page(`ws://127.0.0.1:${proxy.port}/`)));
    const log = (): Promise<PageLog> => tab.evaluate(() => (globalThis as unknown as { __log: PageLog }).__log);
    const waitLog = async (pred: (l: PageLog) => boolean, what: string): Promise<PageLog> => {
      let last: PageLog | undefined;
      const start = performance.now();
      for (;;) {
        last = await log();
        if (pred(last)) return last;
        if (performance.now() - start > 45_000) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(last)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    await waitLog((l) => l.subscribed.length === 1 && l.events.some((e) => e.name === 'connected'), 'the page to connect and subscribe');

    // A publisher in Node, straight to the server.
    const pub = openClient(`ws://127.0.0.1:${a.port}/`);
    await next(pub.client, 'connected');
    for (let i = 1; i <= 3; i++) await pub.client.publish('news', i);
    await waitLog((l) => l.got.length === 3, 'three publications in the page');

    // The link is cut; what is published meanwhile is recovered.
    proxy.cut();
    for (let i = 4; i <= 6; i++) await pub.client.publish('news', i);
    let l = await waitLog((x) => x.subscribed.length === 2 && x.got.length === 6, 'recovery in the page');
    expect(l.subscribed[1]).toBe(true);
    expect(l.got.map((g) => g.data)).toEqual([1, 2, 3, 4, 5, 6]);

    // The node the page is on drains (SIGTERM, 1001); the balancer sends it to B, on the same Redis.
    const pubB = openClient(`ws://127.0.0.1:${b.port}/`);
    await next(pubB.client, 'connected');
    proxy.target = b.port;
    a.signal('SIGTERM');
    await waitLog((x) => x.events.some((e) => e.name === 'disconnected' && e.code === 1001), 'the drain close');
    for (let i = 7; i <= 9; i++) await pubB.client.publish('news', i); // while the page moves
    l = await waitLog((x) => x.subscribed.length === 3 && x.got.length >= 9, 'the page to recover on node B');
    expect(l.subscribed[2]).toBe(true);
    await pubB.client.publish('news', 10);
    l = await waitLog((x) => x.got.length >= 10, 'a live publication on node B');
    expect(l.got.map((g) => g.data)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(l.got.map((g) => g.offset)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);

    // Offline: the page drops its socket and does not dial until online again.
    const acceptedBefore = proxy.accepted;
    await context.setOffline(true);
    await waitLog((x) => x.events.some((e) => e.name === 'disconnected' && e.reason === 'offline'), 'the offline disconnect');
    await new Promise((r) => setTimeout(r, 2_000));
    expect(proxy.accepted).toBe(acceptedBefore);
    await context.setOffline(false);
    l = await waitLog((x) => x.subscribed.length === 4, 'the reconnect after online');
    expect(l.subscribed[3]).toBe(true);
    expect(l.events.filter((e) => e.name === 'closed')).toHaveLength(0);
    expect(errors).toEqual([]);
  });
});
