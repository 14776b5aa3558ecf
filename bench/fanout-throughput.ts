/**
 * Fan-out throughput on one node against the practical limit, raw uWS.js's
 * native publish (node dist/bench/fanout-throughput.js [options]).
 *
 * Each server runs as a process of its own: shardline (`start --shards 1`,
 * the built-in app) and bench/baselines/uws-publish.ts (uWS `ws.subscribe` +
 * `app.publish`, same commands). The same client drives both: N raw-TCP
 * subscribers of one topic spread over client threads (bench/fanout-client.ts,
 * in this process), and one publisher keeping K publications in flight, a
 * publication being done once every subscriber has it. Within each
 * repetition every server runs once, in alternating order; figures are
 * medians over the repetitions:
 *   frames/s            publications delivered to subscribers per second
 *   server µs/frame     the server process's CPU time (all threads) per delivery
 *   client CPU          this process's CPU over the window (2 cores = 200%),
 *                       to show the client is not what sets the pace
 * After each run the publisher stops and every subscriber must have received
 * every publication (`lost` counts the ones that did not, and closed sockets).
 *
 * Options: --subscribers 200 --inflight 50 --size 64 (data characters)
 *   --seconds 5 --warmup 1 --reps 5 --threads 2
 *   --server NAME=COMMAND (repeatable; adds or replaces a server: the command
 *   must print {"msg":"ready","port":N}, so give it --port 0)
 *   --only NAME,NAME (run only these servers)
 *   --json FILE (every run and the medians)
 */
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { cpuMs } from '../src/loadgen/proc-stats.js';
import { startServerCommand } from '../src/loadgen/server-proc.js';
import { Slot, lostSlot, sharedSlots, totalSlot, type ClientInit } from './fanout-shared.js';
import { serverCommand } from './servers.js';
import { median } from './stats.js';

const CLIENT = fileURLToPath(new URL('./fanout-client.js', import.meta.url));
const UWS_PUBLISH = fileURLToPath(new URL('./baselines/uws-publish.js', import.meta.url));
const TOPIC = 't';

const { values } = parseArgs({
  strict: true,
  options: {
    subscribers: { type: 'string', default: '200' },
    inflight: { type: 'string', default: '50' },
    size: { type: 'string', default: '64' },
    seconds: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '1' },
    reps: { type: 'string', default: '5' },
    threads: { type: 'string', default: '2' },
    server: { type: 'string', multiple: true, default: [] },
    only: { type: 'string' },
    json: { type: 'string' },
  },
});
const opts = {
  subscribers: Number(values.subscribers),
  inflight: Number(values.inflight),
  size: Number(values.size),
  seconds: Number(values.seconds),
  warmup: Number(values.warmup),
  reps: Number(values.reps),
  threads: Number(values.threads),
};
for (const [k, v] of Object.entries(opts)) {
  if (!Number.isFinite(v) || v < 0 || (k !== 'warmup' && v === 0)) throw new Error(`--${k}: must be a positive number (got ${String(v)})`);
}

const servers = new Map<string, string>([
  ['shardline', serverCommand('shardline-1', false)],
  ['uws-publish', `${JSON.stringify(process.execPath)} ${JSON.stringify(UWS_PUBLISH)} --port 0`],
]);
for (const s of values.server ?? []) {
  const eq = s.indexOf('=');
  if (eq <= 0) throw new Error(`--server: expected NAME=COMMAND, got ${s}`);
  servers.set(s.slice(0, eq), s.slice(eq + 1));
}

interface Run {
  server: string;
  rep: number;
  framesPerSec: number;
  publicationsPerSec: number;
  serverUsPerFrame: number;
  serverCpuPct: number;
  clientCpuPct: number;
  lost: number;
}

async function runOnce(name: string, command: string, rep: number): Promise<Run> {
  const server = await startServerCommand(command);
  const shared = new SharedArrayBuffer(4 * sharedSlots(opts.threads));
  const slots = new Int32Array(shared);
  const workers: Worker[] = [];
  try {
    await Promise.all(
      Array.from({ length: opts.threads }, (_, index) => {
        const per = Math.floor(opts.subscribers / opts.threads) + (index < opts.subscribers % opts.threads ? 1 : 0);
        const init: ClientInit = {
          port: server.port,
          subscribers: per,
          index,
          threads: opts.threads,
          topic: TOPIC,
          size: opts.size,
          inflight: opts.inflight,
          shared,
        };
        const w = new Worker(CLIENT, { workerData: init });
        workers.push(w);
        return new Promise<void>((resolve, reject) => {
          w.once('message', () => resolve());
          w.once('error', reject);
        });
      }),
    );
    const frames = (): number => Array.from({ length: opts.threads }, (_, i) => Atomics.load(slots, totalSlot(opts.threads, i))).reduce((a, b) => a + b, 0);
    Atomics.store(slots, Slot.STATE, 1);
    await sleep(opts.warmup * 1000);
    const t0 = { at: performance.now(), frames: frames(), sent: Atomics.load(slots, Slot.SENT), server: cpuMs(server.pid), client: process.cpuUsage() };
    await sleep(opts.seconds * 1000);
    const ms = performance.now() - t0.at;
    const f = frames() - t0.frames;
    const serverMs = cpuMs(server.pid) - t0.server;
    const client = process.cpuUsage(t0.client);
    const pubs = Atomics.load(slots, Slot.SENT) - t0.sent;
    // Stop publishing; every subscriber must then get every publication.
    Atomics.store(slots, Slot.STATE, 2);
    const sent = Atomics.load(slots, Slot.SENT);
    const minAll = (): number => Math.min(...Array.from({ length: opts.threads }, (_, i) => Atomics.load(slots, Slot.MIN + i)));
    for (let waited = 0; minAll() < sent && waited < 10_000; waited += 20) await sleep(20);
    let lost = 0;
    for (let i = 0; i < opts.threads; i++) lost += Atomics.load(slots, lostSlot(opts.threads, i));
    if (minAll() < sent) lost += sent - minAll();
    Atomics.store(slots, Slot.STATE, 3);
    return {
      server: name,
      rep,
      framesPerSec: (f * 1000) / ms,
      publicationsPerSec: (pubs * 1000) / ms,
      serverUsPerFrame: (serverMs * 1000) / f,
      serverCpuPct: (serverMs * 100) / ms,
      clientCpuPct: (client.user + client.system) / 10 / ms,
      lost,
    };
  } finally {
    Atomics.store(slots, Slot.STATE, 3);
    for (const w of workers) w.postMessage({ type: 'close' });
    await Promise.all(workers.map((w) => new Promise((resolve) => w.once('exit', resolve))));
    server.child.kill('SIGTERM');
    await Promise.race([server.exited, sleep(10_000)]);
    await server.kill();
  }
}

const names = values.only === undefined ? [...servers.keys()] : values.only.split(',');
for (const n of names) if (!servers.has(n)) throw new Error(`--only: no server named ${n} (${[...servers.keys()].join(', ')})`);
const runs: Run[] = [];
console.log(
  `fan-out: ${opts.subscribers} subscribers, ${opts.inflight} publications in flight, ${opts.size}-character data, ` +
    `${opts.seconds} s (after ${opts.warmup} s warm-up) x ${opts.reps} reps, ${opts.threads} client threads; node ${process.version}, ${os.cpus()[0]?.model ?? '?'} x ${os.cpus().length}, load ${os.loadavg()[0]?.toFixed(1)}`,
);
for (let rep = 1; rep <= opts.reps; rep++) {
  const order = rep % 2 === 1 ? names : [...names].reverse();
  for (const name of order) {
    const r = await runOnce(name, servers.get(name) as string, rep);
    runs.push(r);
    console.log(
      `  rep ${rep} ${name.padEnd(14)} ${Math.round(r.framesPerSec).toString().padStart(7)} frames/s  ${r.serverUsPerFrame.toFixed(2)} µs/frame server  ` +
        `server CPU ${r.serverCpuPct.toFixed(0)}%  client CPU ${r.clientCpuPct.toFixed(0)}%  lost ${r.lost}`,
    );
  }
}

const summary = names.map((name) => {
  const mine = runs.filter((r) => r.server === name);
  return {
    server: name,
    framesPerSec: median(mine.map((r) => r.framesPerSec)),
    serverUsPerFrame: median(mine.map((r) => r.serverUsPerFrame)),
    clientCpuPct: median(mine.map((r) => r.clientCpuPct)),
    lost: mine.reduce((a, r) => a + r.lost, 0),
  };
});
const base = summary.find((s) => s.server === 'uws-publish');
console.log('\nmedians:');
for (const s of summary) {
  const ratio =
    base === undefined
      ? ''
      : `  ${(s.framesPerSec / base.framesPerSec).toFixed(2)}x uws-publish's frames/s at ${(s.serverUsPerFrame / base.serverUsPerFrame).toFixed(2)}x its CPU per frame`;
  console.log(
    `  ${s.server.padEnd(14)} ${Math.round(s.framesPerSec).toString().padStart(7)} frames/s  ${s.serverUsPerFrame.toFixed(2)} µs/frame  client CPU ${s.clientCpuPct.toFixed(0)}%  lost ${s.lost}${ratio}`,
  );
}
if (values.json !== undefined) {
  writeFileSync(
    values.json,
    `${JSON.stringify({ date: new Date().toISOString(), node: process.version, cpu: os.cpus()[0]?.model, options: opts, servers: Object.fromEntries(servers), runs, summary }, null, 2)}\n`,
  );
}
process.exit(summary.some((s) => s.lost > 0) ? 1 : 0);
