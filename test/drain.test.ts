/**
 * The drain, end to end: a real server process, real `ws` clients, real signals.
 */
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { connect, connectMany, httpStatus, refused } from './helpers/client.js';
import { FIXTURES, configFile, startServer, tempFile, type ServerProcess } from './helpers/server.js';

function shardReports(server: ServerProcess) {
  return server.logs.filter((l) => l.msg === 'shard drained');
}

describe('drain on SIGTERM', () => {
  it('answers every in-flight request before the 1001 close frame and exits 0 (5 clients x 5 messages, 100 ms handler)', async () => {
    const server = await startServer(['--shards', '2', '--app', join(FIXTURES, 'slow-echo.mjs')]);
    const clients = await Promise.all(Array.from({ length: 5 }, () => connect(server.port)));
    const closeOrder: string[][] = [];
    for (const [c, client] of clients.entries()) {
      const seen: string[] = [];
      closeOrder.push(seen);
      client.ws.on('message', (m) => seen.push(String(m)));
      client.ws.on('close', () => seen.push('CLOSE'));
      for (let m = 0; m < 5; m++) client.ws.send(`c${c}m${m}`);
    }
    await sleep(50);
    server.signal('SIGTERM');

    const closes = await Promise.all(clients.map((c) => c.closed));
    const { code } = await server.exited;
    expect(code).toBe(0);
    for (const [c, close] of closes.entries()) {
      expect(close.code).toBe(1001);
      // All five replies, every one of them before the close.
      const seen = closeOrder[c] ?? [];
      expect(seen.at(-1)).toBe('CLOSE');
      expect(seen.slice(0, -1).sort()).toEqual(Array.from({ length: 5 }, (_, m) => `c${c}m${m}`));
    }
    const reports = shardReports(server);
    expect(reports).toHaveLength(2);
    expect(reports.reduce((n, r) => n + (r.handlersAwaited as number), 0)).toBe(25);
    expect(reports.every((r) => r.forced === false && r.messagesDropped === 0)).toBe(true);
    const stopped = await server.waitForLog((l) => l.msg === 'stopped');
    expect(stopped).toMatchObject({ exitCode: 0, forced: false, connectionsClosed: 5 });
  });

  it('answers requests that reach a busy shard after its drain began, before it ended their sockets', async ({ annotate }) => {
    // The race: a shard reads a socket only when the poll phase reports it, and
    // ends sockets in the check phase after. A request arriving in between, here
    // while a hook blocks the thread, would meet its close frame unread.
    const server = await startServer(['--shards', '1', '--app', join(FIXTURES, 'block.mjs')]);
    const blocker = await connect(server.port);
    const clients = await connectMany(server.port, 200);
    blocker.ws.send('block:400');
    await sleep(100);
    server.signal('SIGTERM'); // the drain message waits in the port while the thread is blocked
    blocker.ws.send('block:400'); // read in the same turn as the drain message: blocks again
    await sleep(450); // the thread is in the second block now
    for (const [i, c] of clients.entries()) c.ws.send(`request ${i}`);
    const closes = await Promise.all(clients.map((c) => c.closed));
    expect(closes.every((c) => c.code === 1001)).toBe(true);
    const answered = clients.filter((c, i) => c.messages.includes(`re:request ${i}`)).length;
    await annotate(`${answered} of ${clients.length} requests sent during the block answered before the close frame`);
    expect(answered).toBe(clients.length);
    expect((await server.exited).code).toBe(0);
    expect(server.logs.find((l) => l.msg === 'stopped')).toMatchObject({ barrierTimeouts: 0 });
  });

  it('closes 1000 idle connections over 2 shards with 1001 and exits 0', async () => {
    const server = await startServer(['--shards', '2']);
    const clients = await connectMany(server.port, 1000);
    server.signal('SIGTERM');
    const closes = await Promise.all(clients.map((c) => c.closed));
    const { code } = await server.exited;
    expect(code).toBe(0);
    expect(closes.filter((c) => c.code === 1001)).toHaveLength(1000);
    const reports = shardReports(server);
    expect(reports).toHaveLength(2);
    // SO_REUSEPORT spread them over both shards.
    expect(reports.every((r) => (r.connectionsClosed as number) > 0)).toBe(true);
    expect(reports.reduce((n, r) => n + (r.connectionsClosed as number), 0)).toBe(1000);
  });

  it('answers /readyz 503 during drain.delayMs, then refuses new connections', async () => {
    const file = configFile({ app: join(FIXTURES, 'slow-echo.mjs'), drain: { delayMs: 800 } });
    // One slow request keeps the process alive after the listeners close.
    const server = await startServer(['--config', file, '--shards', '2'], { env: { SLOW_MS: '2500' } });
    expect(await httpStatus(server.port, '/readyz')).toBe(200);
    const client = await connect(server.port);
    client.ws.send('slow');
    await sleep(50);

    server.signal('SIGTERM');
    await server.waitForLog((l) => l.msg === 'drain');
    // During the delay: not ready, still alive and still accepting (load balancers need the time).
    expect(await httpStatus(server.port, '/readyz')).toBe(503);
    expect(await httpStatus(server.port, '/healthz')).toBe(200);

    await sleep(1100);
    // After the delay every listener is closed, though the process still drains.
    expect(await refused(server.port)).toBe(true);
    expect(server.child.exitCode).toBeNull();

    const close = await client.closed;
    expect(client.messages).toEqual(['slow']);
    expect(close.code).toBe(1001);
    expect((await server.exited).code).toBe(0);
  });

  it('ends a hook that never settles at drain.timeoutMs with exit 1', async () => {
    const file = configFile({ app: join(FIXTURES, 'hang.mjs'), drain: { timeoutMs: 1000 } });
    const server = await startServer(['--config', file, '--shards', '2']);
    const client = await connect(server.port);
    client.ws.send('hang');
    await client.waitFor(1);

    const sentAt = server.signal('SIGTERM');
    const [{ code, at }] = await Promise.all([server.exited, client.closed]);
    expect(code).toBe(1);
    expect(at - sentAt).toBeGreaterThanOrEqual(1000);
    expect(at - sentAt).toBeLessThan(5000);
    const reports = shardReports(server);
    // Only the shard holding the hung hook is forced; the other drained on its own.
    expect(reports).toHaveLength(2);
    expect(reports.filter((r) => r.forced === true)).toHaveLength(1);
    expect(reports.reduce((n, r) => n + (r.handlersAbandoned as number), 0)).toBe(1);
    expect(reports.reduce((n, r) => n + (r.connectionsForced as number), 0)).toBe(1);
    expect(await server.waitForLog((l) => l.msg === 'stopped')).toMatchObject({ exitCode: 1, forced: true });
  });

  it('a second SIGINT forces the exit within 1 s', async () => {
    const file = configFile({ app: join(FIXTURES, 'hang.mjs'), drain: { timeoutMs: 30_000 } });
    const server = await startServer(['--config', file, '--shards', '2']);
    const client = await connect(server.port);
    client.ws.send('hang');
    await client.waitFor(1);

    server.signal('SIGINT');
    await server.waitForLog((l) => l.msg === 'drain');
    await sleep(200);
    expect(server.child.exitCode).toBeNull(); // still waiting on the hung hook
    const second = server.signal('SIGINT');
    const { code, at } = await server.exited;
    expect(code).toBe(1);
    expect(at - second).toBeLessThan(1000);
  });

  it('awaits the stop hook in every shard before exiting (it writes a file)', async () => {
    const dir = dirname(tempFile('.keep', ''));
    const server = await startServer(['--shards', '2', '--app', join(FIXTURES, 'slow-echo.mjs')], {
      env: { STOP_FILE: join(dir, 'stopped') },
    });
    const client = await connect(server.port);
    server.signal('SIGTERM');
    await client.closed;
    expect((await server.exited).code).toBe(0);
    const files = readdirSync(dir).filter((f) => f.startsWith('stopped'));
    expect(files).toHaveLength(2); // one per shard
    expect(shardReports(server).map((r) => r.stopHook)).toEqual(['ok', 'ok']);
  });

  it('an app timer it never clears does not hold the drain: the thread ends itself once uWS is done, exit 0', async () => {
    const server = await startServer(['--shards', '2', '--app', join(FIXTURES, 'interval.mjs')]);
    const clients = await Promise.all(Array.from({ length: 20 }, () => connect(server.port)));
    const sent = server.signal('SIGTERM');
    const closes = await Promise.all(clients.map((c) => c.closed));
    const { code, at } = await server.exited;
    expect(closes.every((c) => c.code === 1001)).toBe(true);
    expect(code).toBe(0); // not 137: the shards were not stuck, only kept alive
    expect(at - sent).toBeLessThan(3000);
    const warned = server.logs.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('app handles (timers, sockets) kept the drained shard alive'));
    expect(warned).toHaveLength(2);
    expect(warned[0]?.activeResources).toContain('Timeout');
    expect(server.logs.some((l) => l.msg === 'shard unresponsive: its event loop is stuck')).toBe(false);
  });

  it('runs 20 start/drain cycles in a row, each exiting 0', async () => {
    for (let i = 0; i < 20; i++) {
      const server = await startServer(['--shards', '2']);
      const client = await connect(server.port);
      client.ws.send(`cycle ${i}`);
      await client.waitFor(1);
      server.signal('SIGTERM');
      const [close, exit] = await Promise.all([client.closed, server.exited]);
      expect(close.code).toBe(1001);
      expect(exit.code).toBe(0);
    }
  });

  it('drains at once when SIGTERM arrives during start-up', async () => {
    const { runCli } = await import('./helpers/server.js');
    const server = await runCli(['start', '--port', '0', '--host', '127.0.0.1', '--shards', '2'], { waitReady: false });
    await server.waitForLog((l) => l.msg === 'starting');
    server.signal('SIGTERM');
    const { code } = await server.exited;
    expect(code).toBe(0);
    expect(server.logs.some((l) => l.msg === 'ready')).toBe(false);
    expect(existsSync(`/proc/${server.child.pid}`)).toBe(false);
  });
});
