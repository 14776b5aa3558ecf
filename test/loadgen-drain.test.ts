/**
 * `bench drain` for any server (a `ws` server that prints no shardline ready
 * line), with the signal of the user's choice and thresholds as a release
 * gate; `bench capacity` stepping connections up.
 *
 * Each test may take 120 s: it starts several processes (server, bench,
 * client threads) on a 2-core machine shared with other work.
 */
import { once } from 'node:events';
import net from 'node:net';
import { expect, test } from 'vitest';
import type { CapacityResult } from '../src/loadgen/capacity.js';
import type { DrainResult } from '../src/loadgen/drain.js';
import { benchJson } from './helpers/bench.js';
import { FIXTURES, runNode } from './helpers/server.js';

const ECHO = `${FIXTURES}ws-echo-server.mjs`;
const server = `env READY_TEXT=1 ${process.execPath} ${ECHO}`;

test('bench drain --ready-regex --signal SIGINT: a plain ws server drained by SIGINT, gated by thresholds', async () => {
  const { code, report } = await benchJson<DrainResult & { thresholds: { expr: string; ok: boolean }[] }>([
    'drain',
    '--server',
    server,
    '--ready-regex',
    'listening on (\\d+)',
    '--signal',
    'INT',
    '--connections',
    '12',
    '--inflight',
    '1',
    '--threshold',
    'lost==0',
    '--threshold',
    'exit-code==0',
    '--threshold',
    'drain<=1us',
  ]);
  expect(code).toBe(99); // no server exits within a microsecond of its signal
  expect(report.signal).toBe('SIGINT');
  expect(report.connections).toMatchObject({ opened: 12, failed: 0 });
  expect(report.closeCodes).toEqual({ 1001: 12 });
  expect(report.exitCode).toBe(0);
  expect(report.signalToExitMs).toBeGreaterThan(0);
  expect(report.thresholds.map((t) => [t.expr, t.ok])).toEqual([
    ['lost==0', true],
    ['exit-code==0', true],
    ['drain<=1us', false],
  ]);
}, 120_000);

test('bench drain --port: a server known only by its port; a server that exits before it is ready is an error (exit 1)', async () => {
  const probe = net.createServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const port = (probe.address() as net.AddressInfo).port;
  probe.close();
  const { code, report } = await benchJson<DrainResult>([
    'drain',
    '--server',
    `env PORT=${port} READY_TEXT=1 ${process.execPath} ${ECHO}`,
    '--port',
    String(port),
    '--connections',
    '5',
  ]);
  expect(code).toBe(0);
  expect(report.connections).toMatchObject({ opened: 5, failed: 0 });
  expect(report.closeCodes).toEqual({ 1001: 5 });
  const failed = await benchJson<unknown>(['drain', '--server', 'false', '--connections', '2']).catch((e: Error) => e);
  expect(String(failed)).toContain('exit 1');
  expect(String(failed)).toContain('exited with code 1 before it was ready');
}, 120_000);

test('bench capacity steps connections up and reports the largest step under the p99 limit', async () => {
  const srv = await runNode([ECHO]);
  const url = `ws://127.0.0.1:${srv.port}/`;
  const held = await benchJson<CapacityResult>([
    'capacity',
    '--url',
    url,
    '--start',
    '2',
    '--step',
    '2',
    '--max',
    '4',
    '--rate-per-connection',
    '20',
    '--limit-p99',
    '5000',
    '--step-duration',
    '1',
    '--warmup',
    '0',
    '--threshold',
    'connections>=4',
  ]);
  expect(held.code).toBe(0);
  expect(held.report.steps.map((s) => [s.connections, s.held])).toEqual([
    [2, true],
    [4, true],
  ]);
  expect(held.report.largestHeld).toBe(4);
  expect(held.report.stoppedBecause).toBe('reached --max 4');
  // A limit no server meets: the first step fails, nothing held, the gate fails.
  const none = await benchJson<CapacityResult>([
    'capacity',
    '--url',
    url,
    '--start',
    '2',
    '--step',
    '2',
    '--max',
    '4',
    '--rate-per-connection',
    '20',
    '--limit-p99',
    '0.001',
    '--step-duration',
    '1',
    '--warmup',
    '0',
    '--threshold',
    'connections>=2',
  ]);
  expect(none.code).toBe(99);
  expect(none.report.steps).toHaveLength(1);
  expect(none.report.largestHeld).toBeNull();
  expect(none.report.stoppedBecause).toMatch(/^p99 .* > 0.001 ms at 2$/);
}, 120_000);
