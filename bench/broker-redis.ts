/**
 * Redis broker benchmark (npm run build && node dist/bench/broker-redis.js [--quick]).
 *
 * One redis-server (started here on a free port, no persistence), two broker
 * instances in this process ("A" publishes, "B" subscribes). Figures:
 * - publishes/s through RedisBroker.publish() with 1,000 in flight, without
 *   history and with a history rule (size 100), against a baseline of plain
 *   SPUBLISH through a bare node-redis client on the same Redis (the cost of
 *   the Lua script and the envelope);
 * - deliveries/s to the subscribing broker during the no-history run;
 * - Redis memory (INFO used_memory) per history topic: 1,000 topics x 100
 *   publications of 100 bytes, and the broker process's RSS.
 * Rounds alternate the modes and the median is printed, because this machine
 * is shared. A JSON line with the context ends the output.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createClient } from 'redis';
import { RedisBroker } from '../src/broker/redis.js';
import type { Publication } from '../src/broker/broker.js';

const quick = process.argv.includes('--quick');
const N = quick ? 5_000 : 30_000;
const ROUNDS = quick ? 1 : 3;
const IN_FLIGHT = 256;
const PAYLOAD = 'x'.repeat(100);

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const a = s.address();
  await new Promise<void>((r) => s.close(() => r()));
  if (a === null || typeof a === 'string') throw new Error('no port');
  return a.port;
}

async function startRedis(): Promise<{ port: number; stop(): void }> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'sl-bench-redis-'));
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => s.write('PING\r\n'));
      s.once('data', (d) => (resolve(d.toString().startsWith('+PONG')), s.destroy()));
      s.once('error', () => resolve(false));
    });
    if (ok) break;
    await sleep(50);
  }
  return { port, stop: () => (proc.kill('SIGKILL'), rmSync(dir, { recursive: true, force: true })) };
}

/** Runs `n` calls of `one(i)` with at most IN_FLIGHT pending; returns calls per second. */
async function rate(n: number, one: (i: number) => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  let next = 0;
  const worker = async () => {
    while (next < n) await one(next++);
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  return n / (Number(process.hrtime.bigint() - t0) / 1e9);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

async function main(): Promise<void> {
  const redis = await startRedis();
  try {
    await measure(redis.port);
  } finally {
    redis.stop(); // also when a run fails: no redis-server left behind
  }
}

async function measure(port: number): Promise<void> {
  const redis = { port };
  const url = `redis://127.0.0.1:${redis.port}`;
  const received: Publication[] = [];
  // A generous reply timeout: a shared, loaded machine must slow the figures, not fail the run.
  const a = new RedisBroker({ url, keyPrefix: 'bench', nodeId: 'A', commandTimeoutMs: 30_000 });
  const b = new RedisBroker({ url, keyPrefix: 'bench', nodeId: 'B', commandTimeoutMs: 30_000 });
  await a.start({ onPublication: () => undefined, onState: () => undefined });
  let delivered = 0;
  await b.start({ onPublication: (p) => (delivered++, received.length < 1 && received.push(p)), onState: () => undefined });
  const raw = createClient({ url, RESP: 3, maintNotifications: 'disabled' });
  await raw.connect();
  const topics = Array.from({ length: 100 }, (_, i) => `bench-${i}`);
  await b.subscribe(topics);

  const out = { spublish: [] as number[], plain: [] as number[], history: [] as number[], deliveries: [] as number[] };
  for (let r = 0; r < ROUNDS; r++) {
    out.spublish.push(await rate(N, (i) => raw.sPublish(`baseline.{${i % 100}}`, PAYLOAD)));
    delivered = 0;
    const t0 = Date.now();
    out.plain.push(await rate(N, (i) => a.publish(topics[i % 100] ?? 'bench-0', PAYLOAD, false, {})));
    while (delivered < N && Date.now() - t0 < 30_000) await sleep(5);
    out.deliveries.push(delivered / ((Date.now() - t0) / 1000));
    out.history.push(await rate(N, (i) => a.publish(topics[i % 100] ?? 'bench-0', PAYLOAD, false, { history: { size: 100, ttlSec: 300 } })));
  }

  // Memory: 1,000 history topics x 100 publications (100-byte payloads), after a FLUSHALL.
  await raw.flushAll();
  const before = Number(/used_memory:(\d+)/.exec(await raw.info('memory'))?.[1]);
  await rate(100_000, (i) => a.publish(`mem-${i % 1000}`, PAYLOAD, false, { history: { size: 100, ttlSec: 300 } }));
  const after = Number(/used_memory:(\d+)/.exec(await raw.info('memory'))?.[1]);
  const perTopic = (after - before) / 1000;

  const row = (name: string, xs: number[]) =>
    console.log(`${name.padEnd(46)} ${Math.round(median(xs)).toLocaleString('en-US').padStart(9)} /s   (rounds: ${xs.map((x) => Math.round(x)).join(', ')})`);
  console.log(
    `Redis broker, one redis-server, ${N.toLocaleString('en-US')} publications of 100 B per run, ${IN_FLIGHT} in flight, median of ${ROUNDS}; load average ${loadavg()
      .map((x) => x.toFixed(1))
      .join(' ')} on ${cpus().length} cores`,
  );
  row('baseline: bare node-redis SPUBLISH', out.spublish);
  row('RedisBroker.publish, no history', out.plain);
  row('RedisBroker.publish, history (size 100)', out.history);
  row('deliveries to the subscribing broker (no hist.)', out.deliveries);
  console.log(
    `Redis memory per history topic (100 x 100 B kept): ${(perTopic / 1024).toFixed(1)} KiB; broker process RSS ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB`,
  );
  console.log(
    JSON.stringify({
      bench: 'broker-redis',
      node: process.version,
      cpu: cpus()[0]?.model,
      cores: cpus().length,
      loadavg: loadavg(),
      n: N,
      inFlight: IN_FLIGHT,
      rounds: ROUNDS,
      medians: { spublish: median(out.spublish), plain: median(out.plain), history: median(out.history), deliveries: median(out.deliveries) },
      redisBytesPerHistoryTopic: perTopic,
    }),
  );

  await Promise.all([a.close(2000), b.close(2000)]);
  await raw.close();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
