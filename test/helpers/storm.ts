/** A publish storm over non-reading subscribers (test/slow-consumers.test.ts, test/stress/). */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { expect, onTestFinished } from 'vitest';
import { connect, connectMany, type Client } from './client.js';
import { nonReaders } from './non-reader.js';
import { configFile, startServer } from './server.js';

const QUEUE = 512 * 1024;
const HIGH_WATER = 64 * 1024; // uWS's share, see src/shard/connection.ts
const DATA = 'x'.repeat(8 * 1024);

const PROBE = fileURLToPath(new URL('../../dist/src/loadgen/echo-probe.js', import.meta.url));

/** 10 echo sockets in a child process (src/loadgen/echo-probe.ts says why), each subscribed to the storm. */
async function echoProbe(port: number): Promise<{ start(): void; stop(): Promise<number[]> }> {
  const child = spawn(process.execPath, [PROBE, String(port), '10', '20', '{"subscribe":"storm"}'], { stdio: ['pipe', 'pipe', 'inherit'] });
  onTestFinished(() => void child.kill());
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const line = async (): Promise<string> => {
    const next = await lines.next();
    if (next.done === true) throw new Error('the echo probe exited');
    return next.value;
  };
  expect(await line()).toBe('ready');
  return {
    start: () => void child.stdin.write('start\n'),
    stop: async () => {
      child.stdin.write('stop\n');
      return JSON.parse(await line()) as number[];
    },
  };
}

function rss(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VmRSS:'));
  return Number(line?.match(/(\d+)/)?.[1] ?? 0) * 1024;
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
}

interface StormResult {
  echoP50: number;
  echoP99: number;
  rssGrowth: number;
  slowCut: number;
}

/** A publish storm over `slow` non-reading subscribers (0 for the comparison run). */
async function storm(slow: number, annotate: (s: string) => Promise<unknown>): Promise<StormResult> {
  // maxUnackedBytes stays at its default: a non-reader's window never grows past its first 16 KiB.
  const file = configFile({ backpressure: { maxQueueBytes: QUEUE } });
  const server = await startServer(['--shards', '2', '--config', file]);
  const pid = server.child.pid as number;

  const subscribe = async (clients: Client[]): Promise<void> => {
    for (const c of clients) c.ws.send('{"subscribe":"storm"}');
    await Promise.all(clients.map((c) => c.waitFor(1)));
  };
  const readers = await connectMany(server.port, 20);
  await subscribe(readers);
  const probe = await echoProbe(server.port);
  // Subscribed, and from then on they read nothing.
  const slowOnes = slow > 0 ? await nonReaders(server.port, slow, '{"subscribe":"storm"}') : [];

  await sleep(300);
  const base = rss(pid);
  let peak = base;
  const sampler = setInterval(() => (peak = Math.max(peak, rss(pid))), 50);

  // Echo round trips every 20 ms on each of 10 reading subscribers in a process of their own:
  // an echo goes out behind the publications already due to that socket.
  probe.start();

  // 600 publications of 8 KiB, one every 7 ms: 4.8 MB for every subscriber.
  const publisher = await connect(server.port);
  const N = 600;
  for (let i = 0; i < N; i++) {
    publisher.ws.send(JSON.stringify({ publish: 'storm', data: `${i}:${DATA}` }));
    await sleep(7); // a steady 140 or so a second
  }
  try {
    await Promise.all(readers.map((c) => c.waitFor(1 + N, 30_000)));
  } catch (err) {
    // Say where each reader stood: messages received / ws readyState.
    const where = readers.map((c) => `${c.messages.length}/${c.ws.readyState}`).join(' ');
    const cut = server.logs.filter((l) => l.msg === 'slow consumer closed').length;
    throw new Error(`${(err as Error).message}; readers ${where}; ${cut} cut off`);
  }
  const rtts = await probe.stop();
  clearInterval(sampler);

  // Every reader got every publication, in order.
  for (const c of readers) {
    const seq = c.messages.slice(1).map((m) => Number((JSON.parse(String(m)) as { data: string }).data.split(':')[0]));
    expect(seq).toEqual(Array.from({ length: N }, (_, i) => i));
  }
  const slowCut = server.logs.filter((l) => l.msg === 'slow consumer closed').length;
  // The bound: what the queue and uWS's buffer may hold per non-reading socket, plus 64 MB for the rest.
  const bound = slow * (QUEUE + HIGH_WATER + DATA.length + 64) + 64 * 1024 * 1024;
  const result = { echoP50: pct(rtts, 50), echoP99: pct(rtts, 99), rssGrowth: peak - base, slowCut };
  await annotate(
    `${slow} non-reading: echo p50 ${result.echoP50.toFixed(2)} ms p99 ${result.echoP99.toFixed(2)} ms max ${pct(rtts, 100).toFixed(1)} ms (${rtts.length} echoes); ` +
      `RSS +${(result.rssGrowth / 1048576).toFixed(1)} MB (bound ${(bound / 1048576).toFixed(1)} MB); ${slowCut} cut off with 1008`,
  );
  expect(result.rssGrowth).toBeLessThan(bound);

  server.signal('SIGTERM');
  // The readers drain normally; the non-reading ones were closed long ago.
  const readerCloses = await Promise.all(readers.map((c) => c.closed));
  expect(readerCloses.every((c) => c.code === 1001)).toBe(true);
  const slowCodes = await Promise.all(slowOnes.map((c) => c.finish()));
  expect(slowCodes.filter((c) => c !== 1008 && c !== 1006)).toEqual([]);
  expect((await server.exited).code).toBe(0);
  const reports = server.logs.filter((l) => l.msg === 'shard drained');
  expect(reports.reduce((n, r) => n + (r.slowConsumerCloses as number), 0)).toBe(slowCut);
  return result;
}

/**
 * `pairs` runs without and with the non-reading clients, alternating; the p99
 * ratio of each pair is printed and, with several pairs, the ratio of the
 * median p99s (one run's p99 moves a lot on a shared 2-core machine, the
 * run without the non-reading clients as much as the one with them).
 */
export async function slowConsumers(slow: number, annotate: (s: string) => Promise<unknown>, pairs = 1): Promise<void> {
  const p99s = { with: [] as number[], without: [] as number[] };
  for (let i = 0; i < pairs; i++) {
    const without = await storm(0, annotate);
    const withSlow = await storm(slow, annotate);
    expect(withSlow.slowCut).toBe(slow); // every non-reading subscriber was cut off
    p99s.without.push(without.echoP99);
    p99s.with.push(withSlow.echoP99);
    await annotate(`echo p99 with / without the non-reading clients: ${(withSlow.echoP99 / without.echoP99).toFixed(2)}x`);
  }
  if (pairs > 1) {
    const [w, wo] = [pct(p99s.with, 50), pct(p99s.without, 50)];
    await annotate(
      `echo p99, median of ${pairs} runs each: ${w.toFixed(2)} ms with, ${wo.toFixed(2)} ms without the non-reading clients: ${(w / wo).toFixed(2)}x`,
    );
  }
}
