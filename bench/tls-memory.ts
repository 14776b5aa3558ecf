/**
 * Memory per connection, TLS against plain (node dist/bench/tls-memory.js [--quick] [--connections N]).
 *
 * One shard, the built-in app. A client process (this file with --client)
 * opens N connections; the server process's resident memory (VmRSS of
 * /proc/<pid>/status) is read before, once they are open and idle, and after
 * each has echoed one 16 KiB message (TLS buffers grow with the first record).
 * Per connection = growth from before / N: what the process holds, handshake
 * leftovers that malloc keeps included (a slope between two counts came out
 * near zero for TLS, as later connections reuse the first ones' freed
 * handshake buffers). Kernel socket buffers are not in RSS and are the same
 * for both. V8's heap noise (tens of MiB under load) is damped by a small
 * young generation and by sampling (settledRss). Plain and TLS alternate, REPEATS times;
 * medians are reported (the machine is shared).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLI = join(ROOT, 'dist/src/cli/main.js');
const SELF = fileURLToPath(import.meta.url);
const quick = process.argv.includes('--quick');
const nArg = process.argv.indexOf('--connections');
const N = nArg > 0 ? Number(process.argv[nArg + 1]) : quick ? 500 : 3000;
const REPEATS = quick ? 1 : 3;
const PAYLOAD = 16 * 1024;

type Mode = 'plain' | 'tls';

const rssKiB = (pid: number): number => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * RSS sampled 6 times over 3 s after a 2 s settle: V8 grows and shrinks its
 * heaps by megabytes after start-up and bursts, so one sample is noise. The
 * base takes the lowest (start-up garbage collected), a loaded state the median.
 */
async function settledRss(pid: number, pick: 'min' | 'median'): Promise<number> {
  await sleep(2000);
  const samples: number[] = [];
  for (let i = 0; i < 6; i++) {
    samples.push(rssKiB(pid));
    await sleep(500);
  }
  return pick === 'min' ? Math.min(...samples) : median(samples);
}

/** Client mode: opens N connections, then echoes 16 KiB on each when told, then waits to be killed. */
async function client(port: number, mode: Mode): Promise<void> {
  const url = `${mode === 'tls' ? 'wss' : 'ws'}://127.0.0.1:${port}/`;
  const sockets: WebSocket[] = [];
  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    const open = /^open (\d+)$/.exec(line);
    if (open) {
      const n = Number(open[1]);
      while (sockets.length < n) {
        const batch = Array.from(
          { length: Math.min(100, n - sockets.length) },
          () => new WebSocket(url, { rejectUnauthorized: false, perMessageDeflate: false }),
        );
        await Promise.all(batch.map((ws) => once(ws, 'open')));
        sockets.push(...batch);
      }
      process.stdout.write(`opened ${n}\n`);
    }
    if (line !== 'echo') continue;
    const payload = Buffer.alloc(PAYLOAD, 120).toString();
    await Promise.all(sockets.map((ws) => (ws.send(payload), once(ws, 'message'))));
    process.stdout.write('echoed\n');
  }
}

function waitLine(child: ChildProcess, pred: (l: string) => boolean): Promise<string> {
  const rl = createInterface({ input: child.stdout! });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('timed out waiting for a line')), 600_000);
    rl.on('line', (l) => {
      if (pred(l)) clearTimeout(timer), rl.close(), resolve(l);
    });
  });
}

async function measure(mode: Mode, dir: string): Promise<{ idleBytes: number; afterEchoBytes: number; baseKiB: number }> {
  const config = join(dir, `${mode}.json`);
  const tls = { certFile: join(dir, 'cert.pem'), keyFile: join(dir, 'key.pem') };
  writeFileSync(config, JSON.stringify(mode === 'tls' ? { tls } : {}));
  // A 1 MiB young generation (V8's default grows it to 16 MiB and back per
  // isolate) keeps V8's own swings out of what is measured.
  const server = spawn(process.execPath, ['--max-semi-space-size=1', CLI, 'start', '--config', config, '--port', '0', '--host', '127.0.0.1', '--shards', '1'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const port = Number(/"port":(\d+)/.exec(await waitLine(server, (l) => l.includes('"ready"')))?.[1]);
    const base = await settledRss(server.pid!, 'min');
    const c = spawn(process.execPath, [SELF, '--client', String(port), mode], { stdio: ['pipe', 'pipe', 'inherit'] });
    const step = async (command: string, reply: string): Promise<number> => {
      const done = waitLine(c, (l) => l === reply);
      c.stdin!.write(`${command}\n`);
      await done;
      return settledRss(server.pid!, 'median');
    };
    try {
      const idle = await step(`open ${N}`, `opened ${N}`);
      const echoed = await step('echo', 'echoed');
      return { baseKiB: base, idleBytes: ((idle - base) * 1024) / N, afterEchoBytes: ((echoed - base) * 1024) / N };
    } finally {
      c.kill('SIGKILL');
    }
  } finally {
    server.kill('SIGKILL');
    await once(server, 'exit');
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'shardline-tls-bench-'));
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
      '-days',
      '1',
      '-subj',
      '/CN=bench',
    ],
    { stdio: 'pipe' },
  );
  const runs: Record<Mode, { idleBytes: number; afterEchoBytes: number; baseKiB: number }[]> = { plain: [], tls: [] };
  for (let r = 0; r < REPEATS; r++) {
    for (const mode of ['plain', 'tls'] as const) {
      const m = await measure(mode, dir);
      runs[mode].push(m);
      console.log(
        `${mode.padEnd(5)} run ${r + 1}: ${(m.idleBytes / 1024).toFixed(1)} KiB/connection idle, ${(m.afterEchoBytes / 1024).toFixed(1)} KiB after one 16 KiB echo (base RSS ${(m.baseKiB / 1024).toFixed(0)} MiB)`,
      );
    }
  }
  const summary = Object.fromEntries(
    (['plain', 'tls'] as const).map((mode) => [
      mode,
      { idleKiB: median(runs[mode].map((m) => m.idleBytes)) / 1024, afterEchoKiB: median(runs[mode].map((m) => m.afterEchoBytes)) / 1024 },
    ]),
  );
  console.log(
    `median per connection (${N} connections): plain ${summary.plain!.idleKiB.toFixed(1)} KiB idle / ${summary.plain!.afterEchoKiB.toFixed(1)} KiB after echo; tls ${summary.tls!.idleKiB.toFixed(1)} / ${summary.tls!.afterEchoKiB.toFixed(1)} KiB`,
  );
  mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
  const out = join(ROOT, `bench/results/tls-memory-${new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19)}.json`);
  writeFileSync(
    out,
    `${JSON.stringify({ date: new Date().toISOString(), node: process.version, cpu: cpus()[0]?.model, cores: cpus().length, connections: N, payloadBytes: PAYLOAD, repeats: REPEATS, runs, summary }, null, 2)}\n`,
  );
  console.log(`wrote ${out}`);
}

if (process.argv[2] === '--client') {
  await client(Number(process.argv[3]), process.argv[4] as Mode);
} else {
  await main();
}
