/**
 * Server memory per idle connection (node dist/bench/idle-rss.js [options]).
 *
 * The server runs as a process of its own: shardline (`start --shards N`, the
 * built-in app, the memory broker: the defaults) and, for the floor, the raw
 * uWS echo baseline (bench/baselines/uws-raw.ts). Idle raw-TCP WebSocket
 * clients (bench/raw-client.ts, child processes of at most 9,500 sockets,
 * each from a source address of its own) are opened in steps, and the
 * server's RSS (VmRSS, all threads) is read once it has settled:
 *   empty       the server up, no connection
 *   first       `--first` connections (JIT, pools and buffers warmed up)
 * then 4,500 more per step up to `--connections`. Printed per server:
 * (all - empty) / connections, the figure issue 10 bounds at 1.5 KB; the
 * marginal (all - first) / (connections - first); and the least-squares
 * slope of RSS over the steps, the least sensitive to V8 growing or giving
 * back heap between two reads.
 *
 * Options: --connections 19000 --first 1000 --shards 1 --only shardline,uws-raw
 *   --settle-ms 5000 (wait before each RSS read: startup garbage is collected meanwhile)
 * The open-file limit (ulimit -n) must be above the largest client process's
 * sockets (9,500) and, for the server, above --connections.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { rssBytes } from '../src/loadgen/proc-stats.js';
import { startServerCommand } from '../src/loadgen/server-proc.js';

const RAW_CLIENT = fileURLToPath(new URL('./raw-client.js', import.meta.url));
const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const UWS_RAW = fileURLToPath(new URL('./baselines/uws-raw.js', import.meta.url));
const PER_PROCESS = 9_500;
/** Connections added per step after the first. */
const STEP = 4_500;
/** 5,000 connections/s per client process: faster, a loaded 2-core machine drops SYNs and the count is short. */
const OPEN_PER_10MS = 50;

const { values } = parseArgs({
  strict: true,
  options: {
    connections: { type: 'string', default: '19000' },
    first: { type: 'string', default: '1000' },
    shards: { type: 'string', default: '1' },
    only: { type: 'string', default: 'shardline,uws-raw' },
    'settle-ms': { type: 'string', default: '5000' },
  },
});
const total = Number(values.connections);
const first = Number(values.first);
if (!(Number.isInteger(total) && Number.isInteger(first) && first > 0 && total > first))
  throw new Error('--connections and --first: integers, connections > first > 0');
const node = JSON.stringify(process.execPath);
const servers: Record<string, string> = {
  shardline: `${node} ${JSON.stringify(CLI)} start --port 0 --host 127.0.0.1 --shards ${Number(values.shards)}`,
  'uws-raw': `${node} ${JSON.stringify(UWS_RAW)} --port 0`,
};

/** RSS once it has stopped moving: the median of the last 5 reads, 300 ms apart, after `settleMs`. */
const SETTLE_MS = Number(values['settle-ms']);

async function settledRss(pid: number, settleMs = SETTLE_MS): Promise<number> {
  await sleep(settleMs);
  const reads: number[] = [];
  for (let i = 0; i < 5; i++) {
    reads.push(rssBytes(pid));
    await sleep(300);
  }
  return reads.sort((a, b) => a - b)[2] as number;
}

/** Least-squares slope of ys over xs. */
function slope(xs: number[], ys: number[]): number {
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += ((xs[i] as number) - mx) * ((ys[i] as number) - my);
    den += ((xs[i] as number) - mx) ** 2;
  }
  return num / den;
}

/** Opens `count` idle sockets from child processes; resolves once all are upgraded. */
async function openIdle(port: number, count: number, firstAddress: number): Promise<ChildProcess[]> {
  const children: ChildProcess[] = [];
  const opened: Promise<void>[] = [];
  for (let k = 0, left = count; left > 0; k++, left -= PER_PROCESS) {
    const n = Math.min(PER_PROCESS, left);
    const child = spawn(process.execPath, [RAW_CLIENT, String(port), String(n), `127.0.0.${firstAddress + k}`, String(OPEN_PER_10MS)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    children.push(child);
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    opened.push(
      new Promise((resolve, reject) => {
        lines.once('line', (line) => {
          const r = JSON.parse(line) as { opened: number; failed: number };
          if (r.failed > 0) reject(new Error(`${r.failed} of ${n} connections failed`));
          else resolve();
        });
        child.once('exit', (code) => reject(new Error(`raw client exited (${code}) before opening its sockets`)));
      }),
    );
  }
  await Promise.all(opened);
  return children;
}

async function measure(name: string): Promise<void> {
  const server = await startServerCommand(servers[name] as string, { readyTimeoutMs: 60_000 });
  const clients: ChildProcess[] = [];
  try {
    const empty = await settledRss(server.pid);
    // Spread over source addresses so that one run's TIME_WAIT ports never collide with the next.
    let address = 2 + Math.floor(Math.random() * 200);
    const points: { conns: number; rss: number }[] = [];
    for (let conns = 0; conns < total; ) {
      const n = conns === 0 ? first : Math.min(STEP, total - conns);
      clients.push(...(await openIdle(server.port, n, address)));
      address += Math.ceil(n / PER_PROCESS);
      conns += n;
      points.push({ conns, rss: await settledRss(server.pid) });
    }
    const all = (points.at(-1) as { rss: number }).rss;
    const warm = (points[0] as { rss: number }).rss;
    const kb = (b: number): string => (b / 1024).toFixed(2);
    console.log(
      `  ${name.padEnd(10)} RSS ${[{ conns: 0, rss: empty }, ...points].map((p) => `${p.conns}: ${(p.rss / 2 ** 20).toFixed(1)} MiB`).join(', ')}\n` +
        `  ${''.padEnd(10)} ${kb((all - empty) / total)} KiB per connection (all - empty), marginal ${kb((all - warm) / (total - first))} KiB, ` +
        `slope ${kb(
          slope(
            points.map((p) => p.conns),
            points.map((p) => p.rss),
          ),
        )} KiB (least squares over ${points.length} steps)`,
    );
  } finally {
    server.child.kill('SIGTERM'); // the drain closes every socket; each raw client exits once all of its are closed
    await Promise.race([server.exited, sleep(30_000)]);
    await server.kill();
    for (const c of clients) if (c.exitCode === null) c.kill('SIGKILL');
  }
}

console.log(
  `idle connections: ${total} (${first} first), node ${process.version}, ${os.cpus()[0]?.model ?? '?'} x ${os.cpus().length}, load ${os.loadavg()[0]?.toFixed(1)}`,
);
for (const name of (values.only as string).split(',')) {
  if (servers[name] === undefined) throw new Error(`--only: no server named ${name}`);
  await measure(name);
}
