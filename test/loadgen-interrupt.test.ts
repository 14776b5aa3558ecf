/**
 * Ctrl+C during `bench load`, with real signals to the bench child process:
 * the first SIGINT/SIGTERM stops sending, closes every connection with 1000
 * and prints the results so far marked partial (exit 128 + signal); a second
 * one exits at once.
 *
 * Each test may take 120 s: it starts several processes (server, bench,
 * client threads) on a 2-core machine shared with other work.
 */
import { expect, test } from 'vitest';
import type { LoadResult } from '../src/loadgen/load.js';
import { spawnBench } from './helpers/bench.js';
import { FIXTURES, runNode } from './helpers/server.js';

const ECHO = `${FIXTURES}ws-echo-server.mjs`;

async function until(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  test(`${signal} during bench load: connections closed with 1000, partial results printed, exit ${signal === 'SIGINT' ? 130 : 143}`, async () => {
    const srv = await runNode([ECHO]);
    const run = spawnBench(['load', '--url', `ws://127.0.0.1:${srv.port}/`, '-c', '8', '--rate', '400', '--duration', '60', '--json']);
    await until(() => srv.logs.filter((l) => l.msg === 'open').length === 8, 60_000, 'the 8 connections');
    await new Promise((r) => setTimeout(r, 1_000)); // some load
    run.child.kill(signal);
    const code = await run.exited;
    expect(code).toBe(signal === 'SIGINT' ? 130 : 143);
    const report = JSON.parse(run.stdout().trim().split('\n').pop() ?? '') as LoadResult;
    expect(report.partial).toBe(true);
    expect(report.messages.sent).toBeGreaterThan(0);
    expect(report.messages.received).toBeGreaterThan(0);
    expect(report.closeCodes).toEqual({ 1000: 8 });
    await until(() => srv.logs.filter((l) => l.msg === 'closed').length === 8, 30_000, 'the server to see 8 closes');
    expect(srv.logs.filter((l) => l.msg === 'closed').map((l) => l.code)).toEqual(Array(8).fill(1000));
  }, 120_000);
}

test('a second signal exits at once, without waiting for the closes', async () => {
  // The server blocks its loop for 4 s every 5 s: close handshakes started
  // during a stall cannot finish, so only the second signal ends the run early.
  const srv = await runNode([ECHO], { env: { STALL_MS: '4000', STALL_EVERY_MS: '5000' } });
  const run = spawnBench(['load', '--url', `ws://127.0.0.1:${srv.port}/`, '-c', '4', '--rate', '100', '--duration', '60', '--json']);
  await until(() => srv.logs.filter((l) => l.msg === 'open').length === 4, 60_000, 'the 4 connections');
  // Signal just after the server's next stall begins.
  const stalls = srv.logs.filter((l) => l.msg === 'stall').length;
  await until(() => srv.logs.filter((l) => l.msg === 'stall').length > stalls, 30_000, 'the next stall');
  await new Promise((r) => setTimeout(r, 100));
  run.child.kill('SIGINT');
  await new Promise((r) => setTimeout(r, 300));
  expect(run.child.exitCode).toBeNull(); // still closing: the server is stalled
  run.child.kill('SIGINT');
  expect(await run.exited).toBe(130);
  // No result: it exited at once, without waiting for the closes (the first
  // signal's path always prints one, partial).
  expect(run.stdout()).toBe('');
  expect(run.stderr()).toContain('second SIGINT');
}, 120_000);
