/**
 * Shutdown in awkward states: during a shard restart, mixed signals, a client
 * that never answers the close frame, and one that stopped reading.
 */
import { randomBytes } from 'node:crypto';
import { connect as tcp } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it, onTestFinished } from 'vitest';
import { connect } from './helpers/client.js';
import { FIXTURES, configFile, startServer } from './helpers/server.js';

describe('shutdown in every state', () => {
  it('SIGTERM while a shard is being restarted: no restart after it, the rest drain, exit 0', async () => {
    const server = await startServer(['--shards', '2', '--app', join(FIXTURES, 'crashy.mjs')]);
    const clients = await Promise.all(Array.from({ length: 10 }, () => connect(server.port)));
    await Promise.all(clients.map((c) => c.waitFor(1)));
    clients[0]?.ws.send('boom');
    await server.waitForLog((l) => l.msg === 'restarting shard');
    server.signal('SIGTERM');
    expect((await server.exited).code).toBe(0);
    const crashed = `shard:${(server.logs.find((l) => l.msg === 'restarting shard')?.shard as number) ?? -1}`;
    const healthy = clients.filter((c) => c.messages[0] !== crashed);
    const closes = await Promise.all(healthy.map((c) => c.closed));
    expect(closes.every((c) => c.code === 1001)).toBe(true);
    expect(server.logs.some((l) => l.msg === 'shard restarted')).toBe(false);
  });

  it('SIGINT then SIGTERM: the second signal forces the exit within 1 s', async () => {
    const server = await startServer(['--shards', '2', '--config', configFile({ app: join(FIXTURES, 'hang.mjs'), drain: { timeoutMs: 30_000 } })]);
    const client = await connect(server.port);
    client.ws.send('hang');
    await client.waitFor(1);
    server.signal('SIGINT');
    await server.waitForLog((l) => l.msg === 'drain');
    await sleep(100);
    const second = server.signal('SIGTERM');
    const { code, at } = await server.exited;
    expect(code).toBe(1);
    expect(at - second).toBeLessThan(1000);
    expect(server.logs.find((l) => l.msg === 'drain')?.signal).toBe('SIGINT');
  });

  it('Ctrl+C under npm start (SIGINT twice within a millisecond) is one signal: a clean drain, exit 0', async () => {
    const server = await startServer(['--shards', '2', '--app', join(FIXTURES, 'slow-echo.mjs')], { env: { SLOW_MS: '300' } });
    const client = await connect(server.port);
    client.ws.send('in flight');
    await sleep(50);
    server.signal('SIGINT');
    server.signal('SIGINT');
    const [close, exit] = await Promise.all([client.closed, server.exited]);
    expect(client.messages).toEqual(['in flight']);
    expect(close.code).toBe(1001);
    expect(exit.code).toBe(0);
    expect(server.logs.some((l) => l.msg === 'second signal: forcing the drain')).toBe(false);
  });

  it.each([
    ['the default drain.barrierMs', {}, 1],
    ['drain.barrierMs: 0 (no ping)', { drain: { barrierMs: 0 } }, 0],
  ])('a client that never answers pings or the close frame gets it, and the process still exits 0 promptly: %s', async (_name, config, pings) => {
    const server = await startServer(['--shards', '1', '--config', configFile(config)]);
    const sock = tcp(server.port, '127.0.0.1');
    onTestFinished(() => {
      sock.destroy();
    });
    let received = Buffer.alloc(0);
    let fin = false;
    sock.on('data', (d: Buffer) => (received = Buffer.concat([received, d])));
    sock.on('end', () => (fin = true)); // allowHalfOpen is off, but we never write a close frame back
    sock.write(
      `GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
    while (!received.includes('\r\n\r\n')) await sleep(10);
    const sent = server.signal('SIGTERM');
    const { code, at } = await server.exited;
    expect(code).toBe(0);
    expect(at - sent).toBeLessThan(3000);
    let frame = received.subarray(received.indexOf('\r\n\r\n') + 4);
    // First the drain's barrier ping (unless barrierMs is 0), which this client does
    // not answer either: the drain stops waiting for it after 1 s.
    if (pings === 1) {
      expect(frame[0]).toBe(0x89); // FIN + ping opcode
      frame = frame.subarray(2 + (frame[1] as number));
    }
    expect(frame[0]).toBe(0x88); // FIN + close opcode
    expect(frame.readUInt16BE(2)).toBe(1001);
    expect(server.logs.find((l) => l.msg === 'stopped')).toMatchObject({ barrierTimeouts: pings });
    expect(fin).toBe(true);
  });

  it('a client that stopped reading under a full buffer cannot hold the drain past its deadline: exit 1 at drain.timeoutMs', async () => {
    const server = await startServer([
      '--shards',
      '1',
      '--config',
      configFile({ app: join(FIXTURES, 'flood.mjs'), drain: { timeoutMs: 1500 }, backpressure: { maxQueueBytes: 64 * 1024 * 1024 } }),
    ]);
    const stuck = await connect(server.port);
    await stuck.waitFor(1);
    const fine = await connect(server.port);
    await fine.waitFor(1);
    stuck.ws.pause();
    stuck.ws.send('flood'); // 50 MB into a queue big enough to hold it: it can never be flushed
    await sleep(300);
    const sent = server.signal('SIGTERM');
    const [fineClose, { code, at }] = await Promise.all([fine.closed, server.exited]);
    expect(fineClose.code).toBe(1001); // the reading client drained normally
    expect(code).toBe(1);
    expect(at - sent).toBeGreaterThanOrEqual(1500);
    expect(at - sent).toBeLessThan(1500 + 3000);
    const report = server.logs.find((l) => l.msg === 'shard drained');
    expect(report).toMatchObject({ forced: true, connectionsForced: 1 });
    expect(report?.messagesDropped as number).toBeGreaterThan(0); // counted, not lost silently
  });
});
