/**
 * SIGHUP: config reload and rolling restart (src/primary/reload.ts), on a real
 * server process with real clients and real signals.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { connect, connectMany, httpStatus, type Client } from './helpers/client.js';
import { connectV1, offsets, range } from './helpers/v1.js';
import { CLI, FIXTURES, ROOT, configFile, runCli, startServer, tempFile, type LogLine } from './helpers/server.js';

/** An app module that greets every socket with `greeting` and echoes. */
function appSource(greeting: string): string {
  return `export default { open(conn) { conn.send(${JSON.stringify(greeting)}); }, message(conn, data, isBinary) { conn.send(data, isBinary); } };\n`;
}

const reloaded = (l: LogLine): boolean => l.msg === 'reloaded';

async function runReloadCommand(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CLI, 'reload', ...args], { cwd: ROOT });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(child, 'exit')) as [number];
  return { code, stdout, stderr };
}

describe('SIGHUP rolling restart', () => {
  it('1,000 connections with messages in flight: each gets its reply, then 1012; reconnects are served; exit 0 at SIGTERM', async () => {
    const server = await startServer(['--shards', '2', '--app', join(FIXTURES, 'slow-echo.mjs')], { env: { SLOW_MS: '300' } });
    const clients = await connectMany(server.port, 1000);
    clients.forEach((c, i) => c.ws.send(`in flight ${i}`));
    server.signal('SIGHUP');
    const closes = await Promise.all(clients.map((c) => c.closed));
    // Every reply arrived before its socket's 1012: nothing in flight was lost.
    expect(closes.every((c) => c.code === 1012)).toBe(true);
    clients.forEach((c, i) => expect(c.messages).toEqual([`in flight ${i}`]));
    const line = await server.waitForLog(reloaded, 30_000);
    expect(line.generation).toBe(1);
    expect(line.connectionsClosed).toBe(1000);
    expect((line.reports as unknown[]).length).toBe(2);
    expect(line.connectionsForced).toBe(0);

    // The old listeners closed before any old socket got its 1012, so every reconnect reaches a new shard.
    const again = await connectMany(server.port, 1000);
    again.forEach((c, i) => c.ws.send(`again ${i}`));
    await Promise.all(again.map((c) => c.waitFor(1)));
    again.forEach((c, i) => expect(c.messages).toEqual([`again ${i}`]));
    expect(await httpStatus(server.port, '/readyz')).toBe(200);

    server.signal('SIGTERM');
    const [finalCloses, exit] = await Promise.all([Promise.all(again.map((c) => c.closed)), server.exited]);
    expect(finalCloses.every((c) => c.code === 1001)).toBe(true);
    expect(exit.code).toBe(0);
  }, 120_000);

  it('/readyz answers 200 throughout a roll', async () => {
    const server = await startServer(['--shards', '2', '--config', configFile({ reload: { spreadMs: 1500, timeoutMs: 10_000 } })]);
    const clients = await connectMany(server.port, 50);
    server.signal('SIGHUP');
    const statuses: number[] = [];
    let done = false;
    void server.waitForLog(reloaded, 30_000).then(() => (done = true));
    while (!done) statuses.push(await httpStatus(server.port, '/readyz'));
    expect(statuses.length).toBeGreaterThan(3);
    // Regression: an old shard answered 503 to a check it had accepted just before its listener closed.
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    await Promise.all(clients.map((c) => c.closed));
  }, 60_000);

  it('a changed app module is served after the roll', async () => {
    const app = tempFile('app.mjs', appSource('v1'));
    const server = await startServer(['--shards', '2', '--app', app]);
    const before = await connect(server.port);
    await before.waitFor(1);
    expect(before.messages).toEqual(['v1']);
    writeFileSync(app, appSource('v2'));
    server.signal('SIGHUP');
    expect((await before.closed).code).toBe(1012);
    await server.waitForLog(reloaded);
    const after = await connect(server.port);
    await after.waitFor(1);
    expect(after.messages).toEqual(['v2']);
  });

  it('a bad config at SIGHUP changes nothing: logged, clients untouched, the server keeps serving', async () => {
    const file = configFile({ shards: 2, drain: { timeoutMs: 5000 } });
    const server = await startServer(['--config', file]);
    const client = await connect(server.port);
    writeFileSync(file, JSON.stringify({ shards: 2, drain: { timeoutMs: -1 } }));
    server.signal('SIGHUP');
    const failed = await server.waitForLog((l) => l.msg === 'reload failed: the running shards keep serving');
    expect(String(failed.error)).toContain('drain.timeoutMs');
    expect(server.logs.some((l) => l.code === 'SHARDLINE_CONFIG_INVALID')).toBe(true);
    expect(server.logs.some((l) => l.msg === 'reload: starting a new generation of shards')).toBe(false);
    client.ws.send('still served');
    await client.waitFor(1);
    expect(client.messages).toEqual(['still served']);
    // The old config still rules: the drain's deadline is the file's first 5 s.
    server.signal('SIGTERM');
    expect((await server.waitForLog((l) => l.msg === 'drain')).timeoutMs).toBe(5000);
    expect((await client.closed).code).toBe(1001);
    expect((await server.exited).code).toBe(0);
  });

  it('a change of port or host is refused by name, and nothing changes', async () => {
    // No --host flag here: flags win over the file, so the file's host would never change.
    const file = configFile({ shards: 1, port: 0, host: '127.0.0.1' });
    const server = await runCli(['start', '--config', file]);
    const client = await connect(server.port);
    writeFileSync(file, JSON.stringify({ shards: 1, port: 0, host: '127.0.0.2' }));
    server.signal('SIGHUP');
    const refused = await server.waitForLog((l) => l.msg.startsWith('reload refused'));
    expect(refused.key).toBe('host');
    await server.waitForLog((l) => l.msg === 'reload failed: the running shards keep serving');
    client.ws.send('still served');
    await client.waitFor(1);
  });

  it('a new shard that fails to start aborts the roll and the old shards keep serving', async () => {
    const app = tempFile('app.mjs', appSource('v1'));
    const server = await startServer(['--shards', '2', '--app', app]);
    const client = await connect(server.port);
    await client.waitFor(1);
    writeFileSync(app, 'throw new Error("broken on purpose");\n');
    server.signal('SIGHUP');
    await server.waitForLog((l) => l.msg === 'reload aborted: the old shards keep serving');
    await server.waitForLog((l) => l.msg === 'reload failed: the running shards keep serving');
    client.ws.send('still served');
    await client.waitFor(2);
    expect(client.messages).toEqual(['v1', 'still served']);
    const other = await connect(server.port);
    await other.waitFor(1);
    expect(other.messages).toEqual(['v1']);
    server.signal('SIGTERM');
    expect((await server.exited).code).toBe(0);
  });

  it('a second SIGHUP during a roll is coalesced into one more roll', async () => {
    const server = await startServer(['--shards', '2', '--config', configFile({ reload: { spreadMs: 500, timeoutMs: 5000 } })]);
    await connectMany(server.port, 20);
    server.signal('SIGHUP');
    await server.waitForLog((l) => l.msg === 'reload: starting a new generation of shards');
    // Two more (the kernel may merge two pending SIGHUPs into one): either way one more roll.
    server.signal('SIGHUP');
    server.signal('SIGHUP');
    await server.waitForLog((l) => l.msg === 'reloaded' && l.generation === 2, 30_000);
    expect(server.logs.some((l) => l.msg.startsWith('reload requested during a roll'))).toBe(true);
    await new Promise((r) => setTimeout(r, 1000));
    expect(server.logs.filter(reloaded).map((l) => l.generation)).toEqual([1, 2]);
  }, 60_000);

  it('SIGTERM during a roll becomes the full drain: every client closed, exit 0', async () => {
    const server = await startServer(['--shards', '2', '--config', configFile({ reload: { spreadMs: 3000, timeoutMs: 10_000 } })]);
    const clients = await connectMany(server.port, 100);
    server.signal('SIGHUP');
    await server.waitForLog((l) => l.msg === 'new shard listening');
    server.signal('SIGTERM');
    const closes = await Promise.all(clients.map((c) => c.closed));
    expect(closes.every((c) => c.code === 1012 || c.code === 1001)).toBe(true);
    expect((await server.exited).code).toBe(0);
    expect(server.logs.some((l) => l.msg === 'reload interrupted by the drain')).toBe(true);
  }, 60_000);

  it('reload.spreadMs spreads the 1012 frames and puts the retry hint in the reason', async () => {
    const server = await startServer(['--shards', '1', '--config', configFile({ reload: { spreadMs: 1000, timeoutMs: 10_000 } })]);
    const clients: Client[] = await connectMany(server.port, 100);
    server.signal('SIGHUP');
    const closes = await Promise.all(clients.map((c) => c.closed));
    expect(closes.every((c) => c.code === 1012)).toBe(true);
    expect(JSON.parse(closes[0]?.reason ?? '')).toEqual({ reason: 'server restarting', retryMs: 1000 });
    const at = closes.map((c) => c.at);
    // A lower bound only: a busy machine can stretch the window, never shrink it.
    expect(Math.max(...at) - Math.min(...at)).toBeGreaterThan(600);
  });
});

describe('shardline reload --pid-file', () => {
  it('waits for the roll and exits 0; the pid file is removed at exit', async () => {
    const pidFile = join(dirname(tempFile('x', '')), 'shardline.pid');
    const server = await startServer(['--shards', '2', '--pid-file', pidFile]);
    expect(readFileSync(pidFile, 'utf8').trim()).toBe(String(server.child.pid));
    const client = await connect(server.port);
    const result = await runReloadCommand(['--pid-file', pidFile]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('reloaded: generation 1');
    // It returned only once the roll had finished.
    expect(server.logs.some(reloaded)).toBe(true);
    expect((await client.closed).code).toBe(1012);
    server.signal('SIGTERM');
    expect((await server.exited).code).toBe(0);
    expect(() => readFileSync(pidFile)).toThrow();
  });

  it('exits 1 naming the error when the new config is bad (the server keeps running), and 2 when no server runs', async () => {
    const dir = dirname(tempFile('x', ''));
    const file = join(dir, 'shardline.json');
    writeFileSync(file, JSON.stringify({ shards: 1, pidFile: 'shardline.pid' }));
    const server = await startServer(['--config', file]);
    writeFileSync(file, JSON.stringify({ shards: 1, pidFile: 'shardline.pid', limits: { nope: 1 } }));
    const bad = await runReloadCommand(['--pid-file', join(dir, 'shardline.pid')]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain('limits.nope');
    expect(server.child.exitCode).toBeNull();
    // --config finds the pid file through the config's pidFile.
    writeFileSync(file, JSON.stringify({ shards: 1, pidFile: 'shardline.pid' }));
    expect((await runReloadCommand(['--config', file])).code).toBe(0);
    server.signal('SIGTERM');
    expect((await server.exited).code).toBe(0);
    const none = await runReloadCommand(['--pid-file', join(dir, 'shardline.pid')]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('shardline.pid');
  });
});

describe('SIGHUP roll with the fleet (memory broker, protocol v1)', () => {
  it('history subscribers keep receiving until their 1012, then recover from a new shard: every offset exactly once', async () => {
    const history = [{ match: 'room.*', size: 1000, ttlSec: 600 }];
    const server = await startServer(['--config', configFile({ shards: 2, history, reload: { spreadMs: 1500, timeoutMs: 10_000 } })]);
    const subs = await Promise.all(range(1, 20).map(() => connectV1(server.port)));
    for (const s of subs) expect(await s.request({ subscribe: 'room.1' })).toMatchObject({ ok: true, offset: 0 });

    // A publisher that reconnects when its own shard is rolled, until 100 are published.
    const TOTAL = 100;
    let published = 0;
    const publishing = (async () => {
      while (published < TOTAL) {
        const pub = await connectV1(server.port);
        while (published < TOTAL && pub.ws.readyState === pub.ws.OPEN) {
          const r = await pub.request({ publish: 'room.1', data: { i: published + 1 } }).catch(() => null);
          if (r?.ok === true) published++;
          await new Promise((res) => setTimeout(res, 20));
        }
      }
    })();
    await new Promise((r) => setTimeout(r, 200));
    server.signal('SIGHUP');

    // Each subscriber: what came before its 1012, then a resubscribe with `since` on a new shard.
    const got = await Promise.all(
      subs.map(async (s) => {
        expect((await s.closed).code).toBe(1012);
        const before = s.pubs.get('room.1') ?? [];
        const last = before.at(-1);
        const again = await connectV1(server.port);
        const since = last === undefined ? undefined : { offset: last.offset, epoch: last.epoch };
        const reply = await again.request({ subscribe: 'room.1', ...(since ? { since } : {}) });
        if (since) expect(reply).toMatchObject({ ok: true, recovered: true });
        return { before, again };
      }),
    );
    await publishing;
    for (const { before, again } of got) {
      const after = await again.waitForPubs('room.1', TOTAL - before.length, 20_000);
      expect([...offsets(before), ...offsets(after)]).toEqual(range(1, TOTAL));
    }
    await server.waitForLog(reloaded, 30_000);
  }, 90_000);
});
