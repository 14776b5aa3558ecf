/**
 * The programmatic API, in this process: start/drain cycles leave no file
 * descriptor and no thread behind.
 */
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { startServer } from '../dist/src/index.js';
import { connect } from './helpers/client.js';

const fds = (): number => readdirSync('/proc/self/fd').length;
const threads = (): number => readdirSync('/proc/self/task').length;
const quiet = pino({ level: 'silent' });

describe('programmatic API', () => {
  it('runs 50 start/drain cycles with clients and leaves no fd or thread behind', async () => {
    // One warm-up cycle: the first start loads libraries and spawns libuv's pool.
    const warm = await startServer({ config: { port: 0, host: '127.0.0.1', shards: 2 }, logger: quiet });
    await warm.drain();
    const fdsBefore = fds();
    const threadsBefore = threads();

    for (let i = 0; i < 50; i++) {
      const server = await startServer({ config: { port: 0, host: '127.0.0.1', shards: 2 }, logger: quiet });
      const clients = await Promise.all(Array.from({ length: 5 }, () => connect(server.port)));
      clients[0]?.ws.send(`cycle ${i}`);
      await clients[0]?.waitFor(1);
      const summary = await server.drain('test');
      expect(summary.exitCode).toBe(0);
      expect(summary.reports.reduce((n, r) => n + r.connectionsClosed, 0)).toBe(5);
      const closes = await Promise.all(clients.map((c) => c.closed));
      expect(closes.every((c) => c.code === 1001)).toBe(true);
    }
    // Closed client sockets may take a moment to be released.
    await new Promise((r) => setTimeout(r, 200));
    expect(fds()).toBeLessThanOrEqual(fdsBefore);
    expect(threads()).toBeLessThanOrEqual(threadsBefore);
  });

  it('a second drain() returns the same promise; force() after it resolves the same summary', async () => {
    const server = await startServer({ config: { port: 0, host: '127.0.0.1', shards: 1 }, logger: quiet });
    const a = server.drain('one');
    const b = server.drain('two');
    expect(a).toBe(b);
    const summary = await a;
    expect(await server.force()).toBe(summary);
    expect(summary.reason).toBe('one');
  });

  it('rejects with the error code when the start fails, in the config or in the shards', async () => {
    await expect(startServer({ config: { port: 0, app: '/nonexistent/app.mjs' }, logger: quiet })).rejects.toMatchObject({
      code: 'SHARDLINE_CONFIG_INVALID',
    });
    const app = fileURLToPath(new URL('./fixtures/no-default.mjs', import.meta.url));
    await expect(startServer({ config: { port: 0, shards: 2, app }, logger: quiet })).rejects.toMatchObject({
      code: 'SHARDLINE_APP_INVALID',
      summary: { exitCode: 2 },
    });
  });
});
