/**
 * Limits a user sets and the server enforces, and the upgrade gates.
 */
import { once } from 'node:events';
import { join } from 'node:path';
import WebSocket from 'ws';
import { describe, expect, it } from 'vitest';
import { connect, httpStatus } from './helpers/client.js';
import { FIXTURES, configFile, startServer } from './helpers/server.js';

/** The HTTP status an upgrade attempt got (101 when it became a WebSocket). */
async function upgradeStatus(port: number, path = '/', headers: Record<string, string> = {}): Promise<number> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, { headers });
  const status = await Promise.race([
    once(ws, 'open').then(() => 101),
    once(ws, 'unexpected-response').then(([, res]) => (res as { statusCode: number }).statusCode),
  ]);
  ws.terminate();
  return status;
}

describe('limits', () => {
  it('limits.maxConnections: upgrades over the cap (across shards) get 503, and a freed slot is reusable', async () => {
    const server = await startServer(['--shards', '2', '--config', configFile({ limits: { maxConnections: 10 } })]);
    const clients = await Promise.all(Array.from({ length: 10 }, () => connect(server.port)));
    expect(await upgradeStatus(server.port)).toBe(503);
    expect(await httpStatus(server.port, '/healthz')).toBe(200); // HTTP is not capped
    clients[0]?.ws.close();
    await clients[0]?.closed;
    await new Promise((r) => setTimeout(r, 100));
    expect(await upgradeStatus(server.port)).toBe(101);
    server.signal('SIGTERM');
    expect((await server.exited).code).toBe(0);
  });

  it('limits.maxMessagesPerSecond: a socket over the rate is closed with 1008; others are not', async () => {
    const server = await startServer(['--shards', '1', '--config', configFile({ limits: { maxMessagesPerSecond: 50 } })]);
    const flooder = await connect(server.port);
    const polite = await connect(server.port);
    for (let i = 0; i < 500; i++) flooder.ws.send(`m${i}`);
    const close = await flooder.closed;
    expect(close.code).toBe(1008);
    expect(close.reason).toBe('message rate exceeded');
    expect(flooder.messages.length).toBeLessThanOrEqual(50);
    polite.ws.send('hello');
    await polite.waitFor(1);
    expect(polite.messages[0]).toBe('hello');
    server.signal('SIGTERM');
    expect((await server.exited).code).toBe(0);
  });

  it('allowedOrigins: a foreign Origin gets 403, a listed one (any case) and none at all get in', async () => {
    const server = await startServer(['--shards', '1', '--config', configFile({ allowedOrigins: ['https://app.example.com'] })]);
    expect(await upgradeStatus(server.port, '/', { origin: 'https://evil.example.net' })).toBe(403);
    expect(await upgradeStatus(server.port, '/', { origin: 'https://APP.example.com' })).toBe(101);
    expect(await upgradeStatus(server.port)).toBe(101);
    server.signal('SIGTERM');
    expect((await server.exited).code).toBe(0);
  });

  it('the upgrade hook authenticates: false is 401, its value becomes conn.data', async () => {
    const server = await startServer(['--shards', '2', '--app', join(FIXTURES, 'auth.mjs')]);
    expect(await upgradeStatus(server.port, '/?token=bad')).toBe(401);
    const c = await connect(server.port, '/?token=good');
    c.ws.send('hi');
    await c.waitFor(1);
    expect(c.messages[0]).toBe('alice:hi');
    server.signal('SIGTERM');
    expect((await c.closed).code).toBe(1001);
    expect((await server.exited).code).toBe(0);
  });
});
