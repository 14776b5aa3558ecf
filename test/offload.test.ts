/**
 * The offload pool: CPU-heavy work in piscina, typed errors, and a drain that
 * waits for offloaded work before each socket's close frame.
 */
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { connect } from './helpers/client.js';
import { FIXTURES, configFile, runCli, startServer, tempFile } from './helpers/server.js';

function config(offload: Record<string, unknown>, extra: Record<string, unknown> = {}): string {
  return configFile({ app: join(FIXTURES, 'offload-app.mjs'), offload: { module: join(FIXTURES, 'tasks.mjs'), ...offload }, ...extra });
}

async function ask(port: number, text: string): Promise<string> {
  const c = await connect(port);
  c.ws.send(text);
  await c.waitFor(1, 10_000);
  c.ws.close();
  return String(c.messages[0]);
}

describe('offload', () => {
  it('delivers all 25 offloaded replies (5 clients x 5 messages, 100 ms CPU tasks) before the 1001 close, exit 0', async () => {
    // 25 tasks at once on 2 threads: the queue must hold 23.
    const server = await startServer(['--config', config({ threads: 2, maxQueue: 64 }), '--shards', '2']);
    const clients = await Promise.all(Array.from({ length: 5 }, () => connect(server.port)));
    const seen = clients.map((c) => {
      const log: string[] = [];
      c.ws.on('message', (m) => log.push(String(m)));
      c.ws.on('close', (code) => log.push(`CLOSE ${code}`));
      return log;
    });
    clients.forEach((c, i) => {
      for (let m = 0; m < 5; m++) c.ws.send(`heavy:${i}-${m}`);
    });
    await sleep(50);
    server.signal('SIGTERM');
    await Promise.all(clients.map((c) => c.closed));
    expect((await server.exited).code).toBe(0);
    seen.forEach((log, i) => {
      expect(log.at(-1)).toBe('CLOSE 1001');
      expect(log.slice(0, -1).sort()).toEqual(Array.from({ length: 5 }, (_, m) => `done:${i}-${m}`));
    });
    const stopped = await server.waitForLog((l) => l.msg === 'stopped');
    expect(stopped).toMatchObject({ exitCode: 0, offloadAbandoned: 0 });
    expect(stopped.offloadAwaited as number).toBeGreaterThan(0);
  });

  it('serves the seed scenario with the default config: 5 clients x 5 offloaded 100 ms tasks at once, no QUEUE_FULL', async () => {
    // Regression: maxQueue auto was threads² (4 on 2 cores) and rejected 19 of these 25 tasks.
    const server = await startServer(['--config', config({})]);
    const clients = await Promise.all(Array.from({ length: 5 }, () => connect(server.port)));
    clients.forEach((c, i) => {
      for (let m = 0; m < 5; m++) c.ws.send(`heavy:${i}-${m}`);
    });
    await Promise.all(clients.map((c) => c.waitFor(5, 30_000)));
    clients.forEach((c, i) => {
      expect([...c.messages].map(String).sort()).toEqual(Array.from({ length: 5 }, (_, m) => `done:${i}-${m}`));
    });
    server.signal('SIGTERM');
    expect((await server.exited).code).toBe(0);
  });

  it('gives the handler a typed error for a task that throws, times out, an unknown task and an uncloneable payload, and keeps serving', async () => {
    const server = await startServer(['--config', config({ threads: 1, taskTimeoutMs: 2000 }), '--shards', '1']);
    expect(await ask(server.port, 'try:fail')).toBe('err:SHARDLINE_OFFLOAD_TASK_FAILED:TypeError');
    expect(await ask(server.port, 'try:forever')).toBe('err:SHARDLINE_OFFLOAD_TIMEOUT:');
    expect(await ask(server.port, 'try:nope')).toBe('err:SHARDLINE_OFFLOAD_UNKNOWN_TASK:');
    expect(await ask(server.port, 'clone')).toBe('err:SHARDLINE_OFFLOAD_NOT_CLONEABLE:');
    // Still serving, and the pool replaced the thread the timeout killed.
    expect(await ask(server.port, 'try:echo')).toBe('ok:{"ms":1}');
    expect(await ask(server.port, 'bytes')).toBe('bytes:255,254,253,252:0'); // moved, not copied
    expect(await ask(server.port, 'free:x')).toBe('freed:x');
    server.signal('SIGTERM');
    expect((await server.exited).code).toBe(0);
  });

  it('refuses offload() once the socket is closed, and counts a task abandoned at the deadline', async () => {
    const server = await startServer(['--config', config({ threads: 1 }, { drain: { timeoutMs: 500 } }), '--shards', '1']);
    const early = await connect(server.port);
    early.ws.close();
    const refused = await server.waitForLog((l) => l.msg === 'offload after close');
    expect(refused.code).toBe('SHARDLINE_OFFLOAD_SHUTTING_DOWN');

    const c = await connect(server.port);
    c.ws.send('long:5000'); // far past the drain deadline
    await sleep(100);
    server.signal('SIGTERM');
    const { code } = await server.exited;
    expect(code).toBe(1);
    const stopped = await server.waitForLog((l) => l.msg === 'stopped');
    expect(stopped).toMatchObject({ forced: true, offloadAbandoned: 1 });
    expect(c.messages).not.toContain('long done');
  });

  it('rejects with QUEUE_FULL past offload.maxQueue', async () => {
    const server = await startServer(['--config', config({ threads: 1, maxQueue: 2 }), '--shards', '1']);
    const answer = await ask(server.port, 'full:10');
    const [, ok, full] = answer.split(':').map(Number);
    expect(ok! + full!).toBe(10);
    expect(full).toBeGreaterThan(0);
    expect(ok).toBeGreaterThanOrEqual(3); // one running + two queued
    server.signal('SIGTERM');
    expect((await server.exited).code).toBe(0);
  });

  it('exits 2 naming the module when the tasks module fails to load', async () => {
    const bad = tempFile('bad.mjs', 'export function x() {}\nthrow new Error("import failed");\n');
    const file = configFile({ offload: { module: bad } });
    const p = await runCli(['start', '--config', file, '--port', '0'], { waitReady: false });
    expect((await p.exited).code).toBe(2);
    expect(p.stderr()).toContain(bad);
    expect(p.stderr()).not.toMatch(/\n\s+at /);
  });
});
