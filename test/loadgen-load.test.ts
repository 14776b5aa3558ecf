/**
 * `shardline bench load` against small `ws` servers of the test's own
 * (test/fixtures/ws-echo-server.mjs): the open model against a server that
 * stalls, reply matching with server pushes, thresholds, the per-second
 * output, and the source-address plan.
 *
 * Each test may take 120 s: it starts several processes (server, bench,
 * client threads) on a 2-core machine shared with other work.
 */
import * as hdr from 'hdr-histogram-js';
import { readFileSync } from 'node:fs';
import { expect, test } from 'vitest';
import type { LoadResult, ProgressLine } from '../src/loadgen/load.js';
import { makePlan, PlanError } from '../src/loadgen/plan.js';
import { benchJson } from './helpers/bench.js';
import { FIXTURES, runNode, tempFile } from './helpers/server.js';

const ECHO = `${FIXTURES}ws-echo-server.mjs`;

/** Percent of the samples of an encoded latency histogram (µs) at or above `ms`. */
function shareAtOrAbove(encoded: string, ms: number): number {
  const h = hdr.decodeFromCompressedBase64(encoded);
  let lo = 0;
  let hi = 100;
  for (let i = 0; i < 40; i++) {
    const mid = (lo + hi) / 2;
    if (h.getValueAtPercentile(mid) >= ms * 1000) hi = mid;
    else lo = mid;
  }
  return 100 - hi;
}

test('a server stalling 200 ms once a second: the open model reports p99 >= 150 ms, the closed model far less', async () => {
  const srv = await runNode([ECHO], { env: { STALL_MS: '200', STALL_EVERY_MS: '1000' } });
  const url = `ws://127.0.0.1:${srv.port}/`;
  const open = await benchJson<LoadResult>(['load', '--url', url, '-c', '10', '--rate', '500', '--duration', '4', '--warmup', '0.5']);
  expect(open.code).toBe(0);
  expect(open.report.mode).toBe('open');
  expect(open.report.messages.sent).toBeGreaterThan(1500);
  expect(open.report.messages.received).toBe(open.report.messages.sent);
  expect(open.report.latency.p99).toBeGreaterThanOrEqual(150);

  const closed = await benchJson<LoadResult>(['load', '--url', url, '-c', '4', '--inflight', '1', '--duration', '4', '--warmup', '0.5']);
  expect(closed.code).toBe(0);
  expect(closed.report.mode).toBe('closed');
  // The same stalls, seen by at most 4 messages each: the closed model samples
  // them (and any stall of a busy machine) far less often than they happen.
  expect(closed.report.latency.maxMs).toBeGreaterThanOrEqual(150);
  expect(closed.report.latency.p99).toBeLessThan(open.report.latency.p99);
  expect(shareAtOrAbove(closed.report.latency.histogram, 100)).toBeLessThan(shareAtOrAbove(open.report.latency.histogram, 100) / 4);
}, 120_000);

test('replies are matched by sequence number: server pushes are counted and ignored, not taken for replies', async () => {
  const srv = await runNode([ECHO], { env: { PUSH_MS: '2' } });
  const html = tempFile('report.html', '');
  const { code, report, stdout } = await benchJson<LoadResult>([
    'load',
    '--url',
    `ws://127.0.0.1:${srv.port}/`,
    '-c',
    '5',
    '--rate',
    '400',
    '--duration',
    '2.2',
    '--progress-json',
    '--report',
    html,
    '--threshold',
    'lost==0',
    '--threshold',
    'p50<=10s',
  ]);
  expect(code).toBe(0);
  expect(report.messages.otherFrames).toBeGreaterThan(0);
  expect(report.messages.received).toBe(report.messages.sent);
  expect(report.latency.count).toBe(report.messages.received);
  expect(report.messages.unanswered).toBe(0);
  // One NDJSON line per measured second before the final object, no table anywhere.
  const lines = stdout.trim().split('\n');
  const progress = lines.slice(0, -1).map((l) => JSON.parse(l) as ProgressLine);
  expect(progress.length).toBeGreaterThanOrEqual(2);
  expect(progress.map((p) => p.second).slice(0, 2)).toEqual([1, 2]);
  expect(progress[0]?.sent).toBeGreaterThan(100);
  expect(stdout).not.toContain('│');
  const withResult = report as LoadResult & { thresholds: { ok: boolean }[]; environment: { node: string; ephemeralPorts: number[] } };
  expect(withResult.thresholds.map((t) => t.ok)).toEqual([true, true]);
  expect(withResult.environment.node).toBe(process.version);
  expect(withResult.environment.ephemeralPorts).toHaveLength(2);
  // --report: an HTML page with both charts (one line per series) and the summary.
  const page = readFileSync(html, 'utf8');
  expect(page).toContain('<svg');
  expect(page).toContain('latency percentile spectrum');
  expect(page.match(/<path /g)?.length).toBe(5);
  expect(page).toContain(`${report.messages.received} of ${report.messages.sent} answered`);
}, 120_000);

test('a failed threshold exits 99 after printing the result; a threshold on an unknown metric exits 2', async () => {
  const srv = await runNode([ECHO]);
  const url = `ws://127.0.0.1:${srv.port}/`;
  const failed = await benchJson<LoadResult & { thresholds: { expr: string; ok: boolean; actual: number }[] }>([
    'load',
    '--url',
    url,
    '-c',
    '2',
    '--rate',
    '100',
    '--duration',
    '1',
    '--threshold',
    'p99<1us',
    '--threshold',
    'sent>0',
  ]);
  expect(failed.code).toBe(99);
  expect(failed.report.thresholds).toMatchObject([
    { expr: 'p99<1us', ok: false },
    { expr: 'sent>0', ok: true },
  ]);
  const bad = await benchJson<unknown>(['load', '--url', url, '-c', '2', '--rate', '100', '--threshold', 'p98<=5ms']).catch((e: Error) => e);
  expect(bad).toBeInstanceOf(Error);
  expect(String(bad)).toContain('exit 2');
  expect(String(bad)).toContain("no metric 'p98'");
}, 120_000);

test('--local-address spreads the connections over the given source addresses, --connect-rate paces them; the plan is printed first', async () => {
  const srv = await runNode([ECHO]);
  const { code, report, stderr } = await benchJson<LoadResult>([
    'load',
    '--url',
    `ws://127.0.0.1:${srv.port}/`,
    '-c',
    '6',
    '--rate',
    '60',
    '--duration',
    '0.5',
    '--local-address',
    '127.0.0.7,127.0.0.8',
    '--connect-rate',
    '10',
  ]);
  expect(code).toBe(0);
  // --connect-rate paces connections, not messages: 6 at 10/s take at least 0.4 s (a busy machine only adds).
  expect(report.connections.openMs).toBeGreaterThanOrEqual(400);
  expect(stderr).toMatch(/^plan: 6 connections = 2 threads x 2 source address\(es\) \[user: 127\.0\.0\.7 3, 127\.0\.0\.8 3\]/);
  expect(report.plan.addressSource).toBe('user');
  const remotes = srv.logs.filter((l) => l.msg === 'open').map((l) => l.remote);
  expect(remotes.sort()).toEqual(['127.0.0.7', '127.0.0.7', '127.0.0.7', '127.0.0.8', '127.0.0.8', '127.0.0.8']);
}, 120_000);

test('the plan: loopback aliases only for a loopback target, and a plan the port range cannot hold is refused', async () => {
  const remote = makePlan({ url: 'ws://10.20.30.40:8080/', connections: 20_000, threads: 2, processes: 0, localAddresses: [] });
  expect(remote.kind).toBe('processes');
  expect(remote.addressSource).toBe('kernel');
  expect(remote.groups.every((g) => g.localAddresses.length === 0)).toBe(true);
  const local = makePlan({ url: 'ws://127.0.0.1:8080/', connections: 20_000, threads: 2, processes: 0, localAddresses: [] });
  expect(local.addressSource).toBe('loopback-aliases');
  expect(local.groups.map((g) => g.localAddresses[0])).toEqual([expect.stringMatching(/^127\.0\.0\.\d+$/), expect.stringMatching(/^127\.0\.0\.\d+$/)]);
  expect(() => makePlan({ url: 'ws://10.20.30.40:8080/', connections: local.portsPerAddress + 1, threads: 2, processes: 4, localAddresses: [] })).toThrow(
    PlanError,
  );
  expect(() =>
    makePlan({ url: 'ws://10.20.30.40:8080/', connections: local.portsPerAddress + 1, threads: 2, processes: 4, localAddresses: ['10.0.0.1', '10.0.0.2'] }),
  ).not.toThrow();
  // From the command line: refused before any connection, exit 2, naming the port range.
  const { spawnBench } = await import('./helpers/bench.js');
  const run = spawnBench(['load', '--url', 'ws://10.20.30.40:8080/', '-c', String(local.portsPerAddress + 1), '--processes', '3', '--rate', '10']);
  expect(await run.exited).toBe(2);
  expect(run.stderr()).toContain('ip_local_port_range');
}, 120_000);
