/**
 * `shardline bench pubsub`: against a real shardline server (its built-in
 * pub/sub), and against a server that drops and duplicates on purpose, so the
 * counts are shown to be exact.
 *
 * Each test may take 120 s: it starts several processes (server, bench,
 * client threads) on a 2-core machine shared with other work.
 */
import { expect, test } from 'vitest';
import type { PubsubResult } from '../src/loadgen/pubsub.js';
import { benchJson } from './helpers/bench.js';
import { FIXTURES, runNode, startServer } from './helpers/server.js';

test('bench pubsub against shardline: every publication delivered once to every subscriber of its topic', async () => {
  const srv = await startServer(['--shards', '2']);
  const { code, report } = await benchJson<PubsubResult>([
    'pubsub',
    '--url',
    `ws://127.0.0.1:${srv.port}/`,
    '--subscribers',
    '40',
    '--publishers',
    '4',
    '--topics',
    '2',
    '--rate',
    '200',
    '--duration',
    '2',
    '--threshold',
    'lost==0',
    '--threshold',
    'duplicates==0',
  ]);
  expect(code).toBe(0);
  expect(report.unacknowledged).toBe(0);
  expect(report.published).toBeGreaterThanOrEqual(350);
  expect(report.publishFailed).toBe(0);
  // 20 subscribers on each topic, publishers alternate topics: each publication reaches 20.
  expect(report.expected).toBe(report.published * 20);
  expect(report.delivered).toBe(report.expected);
  expect(report.lost).toBe(0);
  expect(report.duplicates).toBe(0);
  expect(report.gaps).toBe(0);
  expect(report.latency.count).toBe(report.delivered);
  expect(report.latency.p50).toBeGreaterThan(0);
  expect(report.perSubscriber).toHaveLength(40);
  expect(report.closeCodes).toEqual({ 1000: 44 });
}, 120_000);

test('bench pubsub counts lost and duplicated deliveries exactly, per subscriber', async () => {
  const srv = await runNode([`${FIXTURES}ws-pubsub-faulty.mjs`], { env: { DROP_EVERY: '7', DUP_EVERY: '5' } });
  const { code, report } = await benchJson<PubsubResult>([
    'pubsub',
    '--url',
    `ws://127.0.0.1:${srv.port}/`,
    '--subscribers',
    '6',
    '--publishers',
    '1',
    '--rate',
    '100',
    '--duration',
    '1.5',
    '--threshold',
    'lost==0',
  ]);
  expect(code).toBe(99); // the threshold failed
  const n = report.published;
  expect(n).toBeGreaterThanOrEqual(140);
  const dropped = Math.floor(n / 7);
  let duplicated = 0;
  for (let i = 1; i <= n; i++) if (i % 5 === 0 && i % 7 !== 0) duplicated++;
  expect(report.lost).toBe(6 * dropped);
  expect(report.duplicates).toBe(6 * duplicated);
  expect(report.delivered).toBe(6 * (n - dropped));
  for (const s of report.perSubscriber) {
    expect(s).toMatchObject({ lost: dropped, duplicates: duplicated, maxGap: 1 });
    // A drop is a gap unless it is the last publication (nothing came after it to reveal it).
    expect(s.gaps).toBe(n % 7 === 0 ? dropped - 1 : dropped);
  }
}, 120_000);

test('regression: a --json result larger than a pipe buffer (64 KiB) arrives whole before the exit', async () => {
  const srv = await runNode([`${FIXTURES}ws-pubsub-faulty.mjs`]);
  const { code, report, stdout } = await benchJson<PubsubResult>([
    'pubsub',
    '--url',
    `ws://127.0.0.1:${srv.port}/`,
    '--subscribers',
    '800',
    '--publishers',
    '1',
    '--rate',
    '4',
    '--duration',
    '1',
    '--tail',
    '1',
  ]);
  expect(code).toBe(0);
  expect(stdout.length).toBeGreaterThan(65_536);
  expect(report.perSubscriber).toHaveLength(800);
  // Every expected delivery is accounted for (on a busy machine some may still be in flight after the tail).
  expect(report.delivered + report.lost).toBe(report.expected);
  expect(report.expected).toBe(report.published * 800);
}, 120_000);
