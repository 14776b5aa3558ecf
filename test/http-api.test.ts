/** The HTTP publish API (api.port): good and bad input against a real server process. */
import { describe, expect, it } from 'vitest';
import { freePort } from './helpers/free-port.js';
import { configFile, startServer } from './helpers/server.js';
import { connectV1 } from './helpers/v1.js';

const KEY = 'test-key-0123456789abcdef';

async function apiNode() {
  const apiPort = await freePort();
  const srv = await startServer([
    '--config',
    configFile({ shards: 2, history: [{ match: 'h.*', size: 100, ttlSec: 60 }], api: { port: apiPort, keys: [KEY] } }),
  ]);
  await srv.waitForLog((l) => l.msg === 'publish API listening');
  const post = async (body: unknown, headers: Record<string, string> = { authorization: `Bearer ${KEY}` }) => {
    const res = await fetch(`http://127.0.0.1:${apiPort}/api/publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  return { srv, post, apiPort };
}

describe('HTTP publish API', () => {
  it('publishes to subscribers on every shard, with the offset on a history topic and once per idempotency key', async () => {
    const { srv, post } = await apiNode();
    const subs = await Promise.all([connectV1(srv.port), connectV1(srv.port), connectV1(srv.port), connectV1(srv.port)]);
    for (const s of subs) {
      await s.request({ subscribe: 'plain' });
      await s.request({ subscribe: 'h.1' });
    }
    expect(await post({ topic: 'plain', data: { hello: 'world' } })).toEqual({ status: 200, body: { ok: true } });
    const h1 = await post({ topic: 'h.1', data: [1, 2, 3], key: 'idem-1' });
    expect(h1).toMatchObject({ status: 200, body: { ok: true, offset: 1 } });
    const again = await post({ topic: 'h.1', data: [1, 2, 3], key: 'idem-1' });
    expect(again.body).toEqual({ ...h1.body, duplicate: true });
    expect((await post({ topic: 'h.1', data: 'two' })).body).toMatchObject({ offset: 2 });
    for (const s of subs) {
      expect((await s.waitForPubs('plain', 1)).map((p) => p.data)).toEqual([{ hello: 'world' }]);
      await s.waitForPubs('h.1', 2);
      await new Promise((r) => setTimeout(r, 50));
      expect((s.pubs.get('h.1') ?? []).map((p) => [p.offset, p.data])).toEqual([
        [1, [1, 2, 3]],
        [2, 'two'],
      ]);
    }
  });

  it('answers bad input with a 4xx and a JSON error code, and publishes nothing', async () => {
    const { srv, post, apiPort } = await apiNode();
    const sub = await connectV1(srv.port);
    await sub.request({ subscribe: 't' });
    expect(await post({ topic: 't', data: 1 }, {})).toMatchObject({ status: 401, body: { error: { code: 'SHARDLINE_API_UNAUTHORIZED' } } });
    expect(await post({ topic: 't', data: 1 }, { authorization: 'Bearer wrong-key-0123456789abcdef' })).toMatchObject({ status: 401 });
    expect(await post('{not json')).toMatchObject({ status: 400, body: { error: { code: 'SHARDLINE_BAD_COMMAND' } } });
    expect(await post([1, 2])).toMatchObject({ status: 400, body: { error: { code: 'SHARDLINE_BAD_COMMAND' } } });
    expect(await post({ topic: 't' })).toMatchObject({ status: 400, body: { error: { code: 'SHARDLINE_BAD_COMMAND' } } });
    expect(await post({ topic: 'x'.repeat(300), data: 1 })).toMatchObject({ status: 400, body: { error: { code: 'SHARDLINE_TOPIC_INVALID' } } });
    expect(await post({ topic: 7, data: 1 })).toMatchObject({ status: 400, body: { error: { code: 'SHARDLINE_TOPIC_INVALID' } } });
    expect(await post({ topic: 't', data: 1, key: '' })).toMatchObject({ status: 400 });
    const big = await fetch(`http://127.0.0.1:${apiPort}/api/publish`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}` },
      body: JSON.stringify({ topic: 't', data: 'x'.repeat(2 * 1024 * 1024) }),
    }).catch(() => null);
    expect(big === null || big.status === 413).toBe(true);
    expect((await fetch(`http://127.0.0.1:${apiPort}/api/other`)).status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${apiPort}/api/publish`)).status).toBe(405);
    await new Promise((r) => setTimeout(r, 200));
    expect(sub.pubs.get('t') ?? []).toEqual([]);
    // Still serving after all that.
    expect(await post({ topic: 't', data: 'ok' })).toMatchObject({ status: 200 });
    await sub.waitForPubs('t', 1);
  });

  it('refuses to start without keys (exit 2 naming api.keys)', async () => {
    const { runCli } = await import('./helpers/server.js');
    const srv = await runCli(['start', '--config', configFile({ api: { port: await freePort() } })], { waitReady: false });
    expect((await srv.exited).code).toBe(2);
    expect(srv.stderr()).toContain('api.keys');
  });

  it('shardline check never prints the API keys', async () => {
    const { runCli } = await import('./helpers/server.js');
    const file = configFile({ api: { port: await freePort(), keys: [KEY] } });
    for (const args of [
      ['check', '--config', file],
      ['check', '--sources', '--config', file],
    ]) {
      const run = await runCli(args, { waitReady: false });
      expect((await run.exited).code).toBe(0);
      await new Promise((r) => setTimeout(r, 100)); // stdout may end after the exit event
      const out = run.logs.map((l) => l.msg).join('\n') + JSON.stringify(run.logs);
      expect(out).toContain('redacted');
      expect(out).not.toContain(KEY);
    }
  });
});
