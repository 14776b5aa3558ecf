/**
 * The cost of history on the publish path (node dist/bench/history-publish.js [options]).
 *
 * Two shardline servers, each a process of its own with the memory broker and
 * the built-in app: `plain` has no history rule, `history` has
 * `history: [{ match: "t*", size: 1000, ttlSec: 300 }]`. Publishers (raw-TCP
 * protocol v1 sockets, bench/raw-ws.ts) send `{"id":N,"publish":"t1","data":...}`
 * and keep K commands with an id in flight each; a publication counts when its
 * reply `{"id":N,"ok":true,...}` is back. One subscriber of t1 receives every
 * publication (and its offset on the history server). Within each repetition
 * both servers run once, in alternating order; printed are the medians of
 * publications/s and of the server's CPU per publication, and the ratio.
 *
 * Options: --publishers 4 --inflight 16 --size 64 --seconds 5 --warmup 1 --reps 5 --shards 1
 *   --node-args='--cpu-prof --cpu-prof-dir DIR' (flags for the servers' node)
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { cpuMs } from '../src/loadgen/proc-stats.js';
import { startServerCommand } from '../src/loadgen/server-proc.js';
import { clientFrame, openRaw, type RawSocket } from './raw-ws.js';
import { median } from './stats.js';

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const OK = Buffer.from('"ok":true');
const TOPIC_KEY = Buffer.from('{"topic"');
const ID_KEY = Buffer.from('{"id"');
const SUBSCRIBED = Buffer.from('{"id":0,');
/** True if the frame buf[start, start + len) begins with `prefix`. */
const begins = (buf: Buffer, start: number, len: number, prefix: Buffer): boolean =>
  len >= prefix.length && buf.compare(prefix, 0, prefix.length, start, start + prefix.length) === 0;

const { values } = parseArgs({
  strict: true,
  options: {
    publishers: { type: 'string', default: '4' },
    inflight: { type: 'string', default: '16' },
    size: { type: 'string', default: '64' },
    seconds: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '1' },
    reps: { type: 'string', default: '5' },
    shards: { type: 'string', default: '1' },
    'node-args': { type: 'string', default: '' },
  },
});
const { 'node-args': nodeArgs, ...numeric } = values;
const opts = Object.fromEntries(Object.entries(numeric).map(([k, v]) => [k, Number(v)])) as Record<keyof typeof numeric, number>;
for (const [k, v] of Object.entries(opts)) if (!Number.isFinite(v) || v < 0) throw new Error(`--${k}: must be a number >= 0 (got ${String(v)})`);

const dir = mkdtempSync(join(os.tmpdir(), 'shardline-history-bench-'));
const configs: Record<string, string> = {};
for (const [name, history] of [
  ['plain', []],
  ['history', [{ match: 't*', size: 1000, ttlSec: 300 }]],
] as const) {
  configs[name] = join(dir, `${name}.json`);
  writeFileSync(configs[name], JSON.stringify({ shards: opts.shards, host: '127.0.0.1', history }));
}

interface Run {
  server: string;
  publishesPerSec: number;
  serverUsPerPublish: number;
  clientCpuPct: number;
  errors: number;
  delivered: number;
}

function connectRaw(port: number, onFrame: (buf: Buffer, start: number, len: number) => void): Promise<RawSocket> {
  return new Promise((resolve, reject) => {
    const raw = openRaw(
      port,
      { open: () => resolve(raw), frame: onFrame, closed: () => reject(new Error('closed before the upgrade')) },
      { protocol: 'shardline.v1' },
    );
  });
}

async function runOnce(name: string): Promise<Run> {
  const server = await startServerCommand(
    `${JSON.stringify(process.execPath)} ${nodeArgs} ${JSON.stringify(CLI)} start --port 0 --config ${JSON.stringify(configs[name])}`,
  );
  const sockets: RawSocket[] = [];
  try {
    let delivered = 0;
    let subscribed!: () => void;
    const subReady = new Promise<void>((r) => (subscribed = r));
    const sub = await connectRaw(server.port, (buf, start, len) => {
      if (begins(buf, start, len, TOPIC_KEY)) delivered++;
      else if (begins(buf, start, len, SUBSCRIBED)) subscribed();
    });
    sockets.push(sub);
    sub.send(clientFrame(JSON.stringify({ id: 0, subscribe: 't1' })));
    await subReady;

    let replies = 0;
    let errors = 0;
    let running = true;
    const data = 'x'.repeat(opts.size);
    let nextId = 1;
    const command = (): Buffer => clientFrame(`{"id":${nextId++},"publish":"t1","data":"${data}"}`);
    for (let p = 0; p < opts.publishers; p++) {
      const raw = await connectRaw(server.port, (buf, start, len) => {
        if (!begins(buf, start, len, ID_KEY)) return; // the hello
        if (buf.subarray(start, start + len).includes(OK)) replies++;
        else errors++;
        if (running) raw.send(command());
      });
      sockets.push(raw);
    }
    for (const raw of sockets.slice(1)) raw.send(Buffer.concat(Array.from({ length: opts.inflight }, command)));
    await sleep(opts.warmup * 1000);
    const t0 = { at: performance.now(), replies, server: cpuMs(server.pid), client: process.cpuUsage() };
    await sleep(opts.seconds * 1000);
    const ms = performance.now() - t0.at;
    const n = replies - t0.replies;
    const serverMs = cpuMs(server.pid) - t0.server;
    const client = process.cpuUsage(t0.client);
    running = false;
    await sleep(200);
    return {
      server: name,
      publishesPerSec: (n * 1000) / ms,
      serverUsPerPublish: (serverMs * 1000) / n,
      clientCpuPct: (client.user + client.system) / 10 / ms,
      errors,
      delivered,
    };
  } finally {
    for (const s of sockets) s.socket.destroy();
    server.child.kill('SIGTERM');
    await Promise.race([server.exited, sleep(10_000)]);
    await server.kill();
  }
}

console.log(
  `history on the publish path: ${opts.publishers} publishers x ${opts.inflight} in flight, ${opts.size}-character data, ${opts.shards} shard(s), memory broker, ` +
    `${opts.seconds} s x ${opts.reps} reps; node ${process.version}, ${os.cpus()[0]?.model ?? '?'} x ${os.cpus().length}, load ${os.loadavg()[0]?.toFixed(1)}`,
);
const runs: Run[] = [];
try {
  for (let rep = 1; rep <= opts.reps; rep++) {
    for (const name of rep % 2 === 1 ? ['plain', 'history'] : ['history', 'plain']) {
      const r = await runOnce(name);
      runs.push(r);
      console.log(
        `  rep ${rep} ${name.padEnd(8)} ${Math.round(r.publishesPerSec).toString().padStart(6)} publications/s  ${r.serverUsPerPublish.toFixed(1)} µs server CPU each  client CPU ${r.clientCpuPct.toFixed(0)}%  errors ${r.errors}`,
      );
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
const med = (name: string, f: (r: Run) => number): number => median(runs.filter((r) => r.server === name).map(f));
const [plain, history] = [med('plain', (r) => r.publishesPerSec), med('history', (r) => r.publishesPerSec)];
const [plainCpu, historyCpu] = [med('plain', (r) => r.serverUsPerPublish), med('history', (r) => r.serverUsPerPublish)];
console.log(
  `\nmedians: plain ${Math.round(plain)} publications/s (${plainCpu.toFixed(1)} µs each), history ${Math.round(history)} publications/s (${historyCpu.toFixed(1)} µs each)`,
);
console.log(`history: ${(history / plain).toFixed(2)}x the publications/s at ${(historyCpu / plainCpu).toFixed(2)}x the server CPU per publication`);
process.exit(runs.some((r) => r.errors > 0) ? 1 : 0);
