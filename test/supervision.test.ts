/**
 * Supervision: a shard that crashes is replaced on the same port while the
 * other shards' clients notice nothing; a crash loop gives up loudly; a shard
 * whose event loop is stuck is reported, and the drain deadline still holds.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { connect, httpStatus, type Client } from './helpers/client.js';
import { FIXTURES, configFile, startServer, type ServerProcess } from './helpers/server.js';

const APP = join(FIXTURES, 'crashy.mjs');

/** Opens clients until both shards hold some; returns them grouped by shard. */
async function spread(port: number, n = 20): Promise<Map<string, Client[]>> {
  const by = new Map<string, Client[]>();
  for (let i = 0; i < n || by.size < 2; i++) {
    if (i > 200) throw new Error('clients never reached both shards');
    const c = await connect(port);
    await c.waitFor(1);
    const shard = String(c.messages[0]);
    by.set(shard, [...(by.get(shard) ?? []), c]);
  }
  return by;
}

async function echoes(c: Client, text: string): Promise<void> {
  const before = c.messages.length;
  c.ws.send(text);
  await c.waitFor(before + 1, 5000);
  expect(c.messages[before]).toBe(text);
}

async function faultIsolated(server: ServerProcess, fault: 'boom' | 'exit'): Promise<void> {
  const by = await spread(server.port);
  const [victimShard, victims] = [...by.entries()][0] as [string, Client[]];
  const [, others] = [...by.entries()][1] as [string, Client[]];
  victims[0]?.ws.send(fault);

  const crash = await server.waitForLog((l) => l.code === 'SHARDLINE_SHARD_FAILED');
  expect(`shard:${crash.shard as number}`).toBe(victimShard);
  await server.waitForLog((l) => l.msg === 'shard restarted' && `shard:${l.shard as number}` === victimShard, 10_000);

  // The crashed shard's clients were closed; everyone else noticed nothing.
  await Promise.all(victims.map((c) => c.closed));
  for (const c of others) {
    expect(c.ws.readyState).toBe(c.ws.OPEN);
    await echoes(c, 'still here');
  }
  expect(await httpStatus(server.port, '/readyz')).toBe(200);
  // New connections reach both shards again, the replacement included.
  const after = await spread(server.port);
  expect(after.has(victimShard)).toBe(true);
  for (const c of after.get(victimShard) ?? []) await echoes(c, 'replacement');

  server.signal('SIGTERM');
  expect((await server.exited).code).toBe(0);
}

describe('supervision', () => {
  it("restarts a shard whose app throws outside a hook; the other shard's clients notice nothing", async () => {
    const server = await startServer(['--shards', '2', '--app', APP]);
    await faultIsolated(server, 'boom');
  });

  it('treats process.exit() in a hook as a crash of that shard (never a process abort)', async () => {
    const server = await startServer(['--shards', '2', '--app', APP]);
    await faultIsolated(server, 'exit');
  });

  it('a shard running out of heap (limits.shardHeapMb) stops and is replaced before V8 would abort the process', async () => {
    const file = configFile({ app: APP, limits: { shardHeapMb: 64 } });
    const server = await startServer(['--shards', '2', '--config', file]);
    const by = await spread(server.port);
    const [leakShard, leakers] = [...by.entries()][0] as [string, Client[]];
    const [, others] = [...by.entries()][1] as [string, Client[]];
    const leaker = leakers[0] as Client;
    const timer = setInterval(() => leaker.ws.readyState === leaker.ws.OPEN && leaker.ws.send('leak'), 30);
    const crash = await server.waitForLog((l) => l.code === 'SHARDLINE_SHARD_FAILED', 20_000);
    clearInterval(timer);
    expect(`shard:${crash.shard as number}`).toBe(leakShard);
    expect(String((crash.err as { message: string }).message)).toMatch(/heap at \d+ of 64 MiB/);
    await server.waitForLog((l) => l.msg === 'shard restarted', 10_000);
    for (const c of others) await echoes(c, 'unaffected');
    server.signal('SIGTERM');
    expect((await server.exited).code).toBe(0); // not 134
  });

  it('an exception inside a message hook closes only that socket, with 1011 and no internals', async () => {
    const server = await startServer(['--shards', '1', '--app', APP]);
    const [bad, good] = await Promise.all([connect(server.port), connect(server.port)]);
    await Promise.all([bad.waitFor(1), good.waitFor(1)]);
    bad.ws.send('throw');
    const close = await bad.closed;
    expect(close.code).toBe(1011);
    expect(close.reason).toBe('internal error');
    await echoes(good as Client, 'fine');
    const logged = await server.waitForLog((l) => l.code === 'SHARDLINE_HANDLER_FAILED');
    expect(String((logged.err as { stack: string }).stack)).toContain('thrown in a hook'); // the details go to the log
    expect(server.logs.some((l) => l.msg === 'restarting shard')).toBe(false);
    server.signal('SIGTERM');
    expect((await server.exited).code).toBe(0);
  });

  it('conn.end() truncates a long reason to the 123 bytes a close frame can carry', async () => {
    const server = await startServer(['--shards', '1', '--app', APP]);
    const c = await connect(server.port);
    await c.waitFor(1);
    c.ws.send(`end:${'é'.repeat(100)}`); // 200 bytes of UTF-8
    const close = await c.closed;
    expect(close.code).toBe(4000);
    expect(Buffer.byteLength(close.reason)).toBeLessThanOrEqual(123);
    expect(close.reason).toBe('é'.repeat(61)); // cut on a character boundary
    server.signal('SIGTERM');
    expect((await server.exited).code).toBe(0);
  });

  it('gives up loudly on a crash loop: exit 1', async () => {
    const server = await startServer(['--shards', '1', '--app', APP], { env: { CRASH_AFTER_MS: '400' } });
    const giveUp = await server.waitForLog((l) => typeof l.msg === 'string' && l.msg.includes('giving up'), 30_000);
    expect(giveUp.level).toBe(60); // fatal
    const restarts = server.logs.filter((l) => l.msg === 'restarting shard').map((l) => l.inMs);
    expect(restarts).toEqual([100, 200, 400, 800, 1600]); // exponential backoff
    expect((await server.exited).code).toBe(1);
  });

  it('reports a stuck shard, drains the healthy one by the deadline and ends without abort (exit 137)', async () => {
    const file = configFile({ app: APP, drain: { timeoutMs: 1000 } });
    const server = await startServer(['--shards', '2', '--config', file]);
    const by = await spread(server.port);
    const [stuckShard, stuck] = [...by.entries()][0] as [string, Client[]];
    const [, healthy] = [...by.entries()][1] as [string, Client[]];
    stuck[0]?.ws.send('hang');

    const report = await server.waitForLog((l) => l.msg === 'shard unresponsive: its event loop is stuck', 15_000);
    expect(`shard:${report.shard as number}`).toBe(stuckShard);
    for (const c of healthy) await echoes(c, 'unaffected');

    const sent = server.signal('SIGTERM');
    const closes = await Promise.all(healthy.map((c) => c.closed));
    expect(closes.every((c) => c.code === 1001)).toBe(true);
    const { code, at } = await server.exited;
    expect(code).toBe(137); // SIGKILL by its own hand: not 134 (abort) or 139 (segfault)
    expect(at - sent).toBeLessThan(1000 + 3000);
    expect(server.logs.some((l) => l.msg === 'stuck shards cannot drain: killing the process')).toBe(true);
  });
});
