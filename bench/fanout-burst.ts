/**
 * Fan-out burst benchmark (node dist/bench/fanout-burst.js [--quick]).
 *
 * One shard, 1,000 reading subscribers of one topic (`ws` clients in this
 * process), and 10 more subscribers in a child process of their own
 * (src/loadgen/echo-probe.ts) that each send an echo every 5 ms. A publisher
 * sends bursts of 200 publications of 1 KiB at once (200,000 writes per
 * burst), 3 bursts 500 ms apart. Printed:
 * the subscribers' echo round trips (p50, p99, max) against how long each
 * burst took to reach every subscriber. A subscriber's echo must not wait for
 * the whole fan-out (src/shard/fanout.ts).
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { startServerCommand } from '../src/loadgen/server-proc.js';
import { serverCommand } from './servers.js';

const PROBE = fileURLToPath(new URL('../src/loadgen/echo-probe.js', import.meta.url));

const quick = process.argv.includes('--quick');
const SUBSCRIBERS = quick ? 300 : 1_000;
const BURST = 200;
const BURSTS = 3;
const TOPIC = 'burst';

const pct = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;

async function main(): Promise<void> {
  const server = await startServerCommand(serverCommand('shardline-1', false));
  const subscribers: { ws: WebSocket; got: number }[] = [];
  for (let i = 0; i < SUBSCRIBERS; i += 200) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(200, SUBSCRIBERS - i) }, async () => {
        const s = { ws: new WebSocket(`ws://127.0.0.1:${server.port}/`, { perMessageDeflate: false }), got: 0 };
        s.ws.on('message', () => s.got++);
        await new Promise((resolve) => s.ws.once('open', resolve));
        s.ws.send(JSON.stringify({ subscribe: TOPIC }));
        return s;
      }),
    );
    subscribers.push(...batch);
  }
  while (subscribers.some((s) => s.got < 1)) await sleep(10);

  const child = spawn(process.execPath, [PROBE, String(server.port), '10', '5', JSON.stringify({ subscribe: TOPIC })], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  await lines.next(); // ready
  child.stdin.write('start\n');
  const publisher = new WebSocket(`ws://127.0.0.1:${server.port}/`, { perMessageDeflate: false });
  await new Promise((resolve) => publisher.once('open', resolve));
  const data = 'b'.repeat(1024);
  const fanoutMs: number[] = [];
  for (let b = 0; b < BURSTS; b++) {
    await sleep(500);
    const want = 1 + (b + 1) * BURST;
    const t0 = performance.now();
    for (let i = 0; i < BURST; i++) publisher.send(JSON.stringify({ publish: TOPIC, data }));
    while (subscribers.some((s) => s.got < want)) await sleep(2);
    fanoutMs.push(performance.now() - t0);
  }
  await sleep(200);
  child.stdin.write('stop\n');
  const rtts = (JSON.parse((await lines.next()).value as string) as number[]).sort((x, y) => x - y);
  server.child.kill('SIGTERM');
  const { code } = await server.exited;
  const f = (ms: number): string => ms.toFixed(ms < 10 ? 2 : 0);
  console.log(
    `${SUBSCRIBERS} subscribers + 10 probing, ${BURSTS} bursts of ${BURST} x 1 KiB: ` +
      `each burst reached every subscriber in ${fanoutMs.map(f).join(', ')} ms; ` +
      `subscribers' echo round trip p50 ${f(pct(rtts, 0.5))} ms, p99 ${f(pct(rtts, 0.99))} ms, max ${f(rtts.at(-1) ?? NaN)} ms (${rtts.length} echoes); exit ${code}`,
  );
  process.exit(0);
}

await main();
