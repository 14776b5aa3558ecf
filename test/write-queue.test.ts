/**
 * The per-socket write queue: order across senders, and a bound on what a
 * client that stops reading can cost.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { connect, type Client } from './helpers/client.js';
import { FIXTURES, configFile, startServer, tempFile } from './helpers/server.js';
import { INITIAL_WINDOW_BYTES } from '../src/shard/connection.js';

function rssBytes(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VmRSS:'));
  return Number(line?.match(/(\d+)/)?.[1] ?? 0) * 1024;
}

/** Opens clients until one sits on a shard other than `not` (SO_REUSEPORT decides, not us). */
async function clientOnOtherShard(port: number, not: string): Promise<Client> {
  for (let i = 0; i < 50; i++) {
    const c = await connect(port);
    await c.waitFor(1);
    if (c.messages[0] !== not) return c;
    c.ws.close();
  }
  throw new Error('no client landed on another shard in 50 tries');
}

describe('write queue', () => {
  it('keeps per-sender order for 10,000 messages to one socket from its handler, timers and another shard', async () => {
    // 1.2 KB messages and a client that pauses: 12 MB, more than the kernel and
    // uWS buffers hold, so much of it goes through shardline's queue (raised to 32 MiB).
    const file = configFile({ app: join(FIXTURES, 'order.mjs'), backpressure: { maxQueueBytes: 32 * 1024 * 1024 } });
    const server = await startServer(['--shards', '2', '--config', file], { env: { ORDER_PAD: '1200' } });
    const a = await connect(server.port);
    await a.waitFor(1);
    const b = await clientOnOtherShard(server.port, a.messages[0] as string);
    expect(b.messages[0]).not.toBe(a.messages[0]);

    a.ws.send('sub');
    await a.waitFor(2);
    expect(a.messages[1]).toBe('subscribed');

    const H = 4000;
    const T = 3000;
    const P = 3000;
    a.ws.pause();
    a.ws.send(`burst:${H}:${T}`);
    b.ws.send(`pub:${P}`);
    await sleep(300);
    a.ws.resume();
    await a.waitFor(2 + H + T + P, 30_000);

    const got = a.messages.slice(2) as string[];
    expect(got).toHaveLength(10_000);
    for (const [prefix, n] of [
      ['h', H],
      ['t', T],
      ['p', P],
    ] as const) {
      const seq = got.filter((m) => m.startsWith(`${prefix}:`)).map((m) => Number(m.split(':')[1]));
      expect(seq).toEqual(Array.from({ length: n }, (_, i) => i));
    }
    server.signal('SIGTERM');
    expect((await server.exited).code).toBe(0);
    const reports = server.logs.filter((l) => l.msg === 'shard drained');
    expect(reports.reduce((n, r) => n + (r.messagesDropped as number), 0)).toBe(0);
    // The paused client pushed most of it through the JS queue, not straight into uWS.
    expect(reports.reduce((n, r) => n + (r.messagesQueued as number), 0)).toBeGreaterThan(1000);
  });

  it('cuts off a client that stops reading while 50 MB is pushed to it (1008), keeps memory bounded and serves others', async () => {
    const server = await startServer(['--shards', '2', '--app', join(FIXTURES, 'flood.mjs')]);
    const slow = await connect(server.port);
    await slow.waitFor(1);
    const other = await connect(server.port);
    await other.waitFor(1);

    const pid = server.child.pid as number;
    const before = rssBytes(pid);
    slow.ws.pause(); // stop reading: the kernel buffers fill, then uWS's, then shardline's queue
    slow.ws.send('flood');

    const cut = await server.waitForLog((l) => l.msg === 'slow consumer closed');
    expect(cut).toMatchObject({ code: 'SHARDLINE_SLOW_CONSUMER', closeCode: 1008 });
    // The queue bound (1 MiB by default) held: it never buffered anything close to 50 MB.
    expect(cut.queuedBytes as number).toBeLessThanOrEqual(1024 * 1024 + 64 * 1024);
    const grown = rssBytes(pid) - before;
    expect(grown).toBeLessThan(40 * 1024 * 1024);

    // Another client is unaffected.
    other.ws.send('still there?');
    await other.waitFor(2, 5000);
    expect(other.messages[1]).toBe('still there?');

    // The slow client, once it reads again, gets what was buffered and then the close.
    slow.ws.resume();
    const close = await slow.closed;
    expect([1008, 1006]).toContain(close.code);

    server.signal('SIGTERM');
    expect((await server.exited).code).toBe(0);
    const reports = server.logs.filter((l) => l.msg === 'shard drained');
    expect(reports.reduce((n, r) => n + (r.slowConsumerCloses as number), 0)).toBe(1);
    // What the flood could not deliver is counted, not lost silently.
    expect(reports.reduce((n, r) => n + (r.messagesDropped as number), 0)).toBeGreaterThan(0);
  });

  it('a client that stops reading costs at most maxUnackedBytes of writes before it is cut off; without the window the kernel takes megabytes', async ({
    annotate,
  }) => {
    const CHUNK = 64 * 1024; // what flood.mjs sends at a time
    const received = async (maxUnackedBytes: number): Promise<number> => {
      const file = configFile({ app: join(FIXTURES, 'flood.mjs'), backpressure: { maxUnackedBytes, maxQueueBytes: 64 * 1024 } });
      const server = await startServer(['--config', file, '--shards', '1']);
      const slow = await connect(server.port);
      await slow.waitFor(1);
      slow.ws.pause();
      slow.ws.send('flood');
      await server.waitForLog((l) => l.msg === 'slow consumer closed');
      slow.ws.resume(); // read what the server wrote before it cut us off
      await slow.closed;
      const bytes = slow.messages.slice(1).reduce((n, m) => n + m.length, 0);
      server.signal('SIGTERM');
      expect((await server.exited).code).toBe(0);
      return bytes;
    };
    const windowed = await received(64 * 1024);
    // Written before the window closed: under the window it starts with, plus the chunk that crossed it.
    expect(windowed).toBeLessThanOrEqual(INITIAL_WINDOW_BYTES + CHUNK);
    // The default 1 MiB window starts the same way and grows only with pongs, which never come.
    const byDefault = await received(1024 * 1024);
    expect(byDefault).toBeLessThanOrEqual(INITIAL_WINDOW_BYTES + CHUNK);
    const unbounded = await received(0);
    expect(unbounded).toBeGreaterThan(8 * (64 * 1024 + CHUNK));
    await annotate(
      `written to a non-reader before its cut-off: ${windowed} bytes with a 64 KiB window, ${byDefault} with the default 1 MiB, ${unbounded} without`,
    );
  });

  it('a reader gets messages larger than its acknowledged window, and everything queued behind them', async () => {
    const file = configFile({ app: join(FIXTURES, 'burst.mjs'), backpressure: { maxUnackedBytes: 64 * 1024 } });
    const server = await startServer(['--config', file, '--shards', '1']);
    const client = await connect(server.port);
    // 40 KiB sets a probe out; 100 KiB goes while the window is still open and leaves
    // more than a window unconfirmed even after that probe's pong: the window must probe again.
    const sizes = [40 * 1024, 100 * 1024, 300 * 1024, 10 * 1024, 10 * 1024, 10 * 1024];
    client.ws.send(`burst:${sizes.join(',')}`);
    await client.waitFor(sizes.length, 5000);
    expect(client.messages.map((m) => m.length)).toEqual(sizes);
    server.signal('SIGTERM');
    expect((await client.closed).code).toBe(1001);
    expect((await server.exited).code).toBe(0);
  });

  it('with onOverflow drop-newest keeps the socket open and counts the dropped messages', async () => {
    const file = tempFile('cfg.yaml', `app: ${join(FIXTURES, 'flood.mjs')}\nbackpressure:\n  onOverflow: drop-newest\n  maxQueueBytes: 262144\n`);
    const server = await startServer(['--config', file, '--shards', '1']);
    const slow = await connect(server.port);
    await slow.waitFor(1);
    slow.ws.pause();
    slow.ws.send('flood');
    await sleep(500);
    expect(server.logs.some((l) => l.msg === 'slow consumer closed')).toBe(false);
    slow.ws.resume();
    await sleep(200);
    slow.ws.send('ping');
    // Still open: the echo comes back after whatever was queued.
    await new Promise<void>((resolve) => slow.ws.on('message', (m) => String(m) === 'ping' && resolve()));
    server.signal('SIGTERM');
    expect((await slow.closed).code).toBe(1001);
    expect((await server.exited).code).toBe(0);
    const report = server.logs.find((l) => l.msg === 'shard drained');
    expect(report?.messagesDropped as number).toBeGreaterThan(0);
    expect(report?.slowConsumerCloses).toBe(0);
  });
});
