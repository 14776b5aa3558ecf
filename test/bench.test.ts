/**
 * Smoke test of `shardline bench load` and `bench drain` with tiny N against a
 * real shardline server (a child process), checking the reports hang together.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { expect, onTestFinished, test } from 'vitest';
import type { DrainResult } from '../src/loadgen/drain.js';
import type { LoadResult } from '../src/loadgen/load.js';
import { CLI, ROOT, startServer } from './helpers/server.js';

/** Runs `shardline bench <args> --json`; resolves with the exit code and the parsed report. */
async function bench<R>(args: string[]): Promise<{ code: number; report: R }> {
  const child = spawn(process.execPath, [CLI, 'bench', ...args, '--json'], { cwd: ROOT });
  onTestFinished(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
  const [code] = (await once(child, 'exit')) as [number | null];
  const last = out.trim().split('\n').pop() ?? '';
  try {
    return { code: code ?? -1, report: JSON.parse(last) as R };
  } catch {
    throw new Error(`bench printed no JSON (exit ${code}); stdout: ${out}; stderr: ${err}`);
  }
}

test('bench load reports connects, throughput and latency against a shardline server', async () => {
  const srv = await startServer(['--shards', '2']);
  const { code, report } = await bench<LoadResult>([
    'load',
    '--url',
    `ws://127.0.0.1:${srv.port}/`,
    '--connections',
    '20',
    '--inflight',
    '2',
    '--messages',
    '2000',
    '--size',
    '64',
  ]);
  expect(code).toBe(0);
  expect(report.connections).toMatchObject({ requested: 20, opened: 20, failed: 0 });
  expect(report.messages.sent).toBeGreaterThanOrEqual(2000);
  expect(report.messages.received).toBe(report.messages.sent);
  expect(report.messages.perSec).toBeGreaterThan(0);
  expect(report.mode).toBe('closed');
  const l = report.latency;
  expect(l.count).toBe(report.messages.received);
  for (const k of ['p50', 'p90', 'p99', 'maxMs'] as const) expect(l[k]).toBeGreaterThan(0);
  expect(l.p50).toBeLessThanOrEqual(l.p90);
  expect(l.p90).toBeLessThanOrEqual(l.p99);
  expect(l.p99).toBeLessThanOrEqual(l.maxMs);
  // The full spectrum, ascending, ending at the max.
  const spectrum = l.percentiles.map((p) => p.ms);
  expect(spectrum).toEqual([...spectrum].sort((a, b) => a - b));
  expect(l.percentiles.at(-1)).toMatchObject({ percentile: 100, ms: l.maxMs, count: l.count });
  expect(report.closeCodes).toEqual({ 1000: 20 });
  expect(report.errors).toEqual({});
});

test('bench drain: a shardline drain with requests in flight loses no reply and closes every client with 1001', async () => {
  const server = `${process.execPath} ${CLI} start --port 0 --host 127.0.0.1 --shards 2 --app dist/bench/apps/slow-echo.js`;
  const { code, report } = await bench<DrainResult>(['drain', '--server', server, '--connections', '20', '--inflight', '2', '--handler-ms', '100']);
  expect(code).toBe(0);
  expect(report.connections).toMatchObject({ requested: 20, opened: 20, failed: 0 });
  expect(report.requestsSent).toBeGreaterThanOrEqual(40);
  expect(report.repliesLost).toBe(0);
  expect(report.closeCodes).toEqual({ 1001: 20 });
  expect(report.exitCode).toBe(0);
  expect(report.killed).toBe(false);
  expect(report.newConnectionRefused).toBe(true);
  const first = report.signalToFirstCloseFrameMs ?? -1;
  const lastFrame = report.signalToLastCloseFrameMs ?? -1;
  expect(first).toBeGreaterThanOrEqual(0);
  expect(first).toBeLessThanOrEqual(lastFrame);
  expect(lastFrame).toBeLessThanOrEqual(report.signalToLastClientClosedMs ?? -1);
  expect(report.signalToExitMs).toBeGreaterThan(0);
  expect(report.serverRss.connectedBytes).toBeGreaterThan(0);
});
