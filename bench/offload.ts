/**
 * Offload benchmark (node dist/bench/offload.js [--quick]).
 *
 * 1. Echo latency on one shard while 20 ms CPU-heavy messages arrive: with no
 *    heavy messages, with the heavy work inline on the shard thread, and with
 *    it offloaded to the pool. Target: offload p99 within 2x of "none".
 * 2. Pool placement: round trip and throughput of a no-op task through the
 *    primary's pool (shardline's design: one extra hop) against a pool owned
 *    by the shard thread itself.
 *
 * Server and client are separate processes; modes alternate and repeat, and
 * medians are reported, because this 2-core machine is shared and noisy.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLI = join(ROOT, 'dist/src/cli/main.js');
const APP = join(ROOT, 'bench/apps/offload-mix.mjs');
const TASKS = join(ROOT, 'bench/apps/tasks.mjs');
const quick = process.argv.includes('--quick');
const SECONDS = quick ? 2 : 5;
const REPEATS = quick ? 1 : 3;
const HEAVY_MS = 20;

type Mode = 'inline' | 'offload' | 'local';

interface Server {
  port: number;
  stop(): Promise<number | null>;
}

async function startServer(mode: Mode): Promise<Server> {
  const dir = mkdtempSync(join(tmpdir(), 'shardline-bench-'));
  const config = join(dir, 'bench.json');
  writeFileSync(config, JSON.stringify({ app: APP, offload: { module: TASKS, threads: 1, maxQueue: 1000 } }));
  const child = spawn(process.execPath, [CLI, 'start', '--config', config, '--port', '0', '--host', '127.0.0.1', '--shards', '1'], {
    env: { ...process.env, BENCH_MODE: mode, HEAVY_MS: String(HEAVY_MS), BENCH_THREADS: '1' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('server did not start')), 15_000);
    lines.on('line', (line) => {
      const m = /"port":(\d+)/.exec(line);
      if (m && line.includes('"ready"')) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
  });
  return {
    port,
    async stop() {
      child.kill('SIGTERM');
      const [code] = (await once(child, 'exit')) as [number | null];
      return code;
    },
  };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? (s[(s.length - 1) / 2] as number) : ((s[s.length / 2 - 1] as number) + (s[s.length / 2] as number)) / 2;
}

async function open(port: number): Promise<WebSocket> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: false });
  await once(ws, 'open');
  return ws;
}

/** 8 light clients each send an echo every 10 ms; one heavy client sends `heavyPerSec` heavy messages a second. */
async function mixedRun(port: number, heavyPerSec: number): Promise<{ p50: number; p99: number; max: number; echoes: number }> {
  const light = await Promise.all(Array.from({ length: 8 }, () => open(port)));
  const heavy = await open(port);
  const rtts: number[] = [];
  const sentAt = new Map<string, number>();
  let seq = 0;
  for (const ws of light) {
    ws.on('message', (m) => {
      const t = sentAt.get(String(m));
      if (t !== undefined) rtts.push(performance.now() - t);
    });
  }
  const lightTimer = setInterval(() => {
    for (const ws of light) {
      const id = `e:${seq++}`;
      sentAt.set(id, performance.now());
      ws.send(id);
    }
  }, 10);
  const heavyTimer = heavyPerSec > 0 ? setInterval(() => heavy.send(`h:${seq++}`), 1000 / heavyPerSec) : null;
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  clearInterval(lightTimer);
  if (heavyTimer) clearInterval(heavyTimer);
  await new Promise((r) => setTimeout(r, 300));
  for (const ws of [...light, heavy]) ws.terminate();
  rtts.sort((a, b) => a - b);
  return { p50: percentile(rtts, 50), p99: percentile(rtts, 99), max: rtts.at(-1) ?? NaN, echoes: rtts.length };
}

/** One client keeps 64 no-op tasks in flight for SECONDS. */
async function taskRun(port: number): Promise<{ perSec: number; p50: number; p99: number }> {
  const ws = await open(port);
  const rtts: number[] = [];
  const sentAt = new Map<string, number>();
  let seq = 0;
  let done = 0;
  const until = performance.now() + SECONDS * 1000;
  const sendOne = (): void => {
    const id = `n:${seq++}`;
    sentAt.set(id, performance.now());
    ws.send(id);
  };
  await new Promise<void>((resolve) => {
    ws.on('message', (m) => {
      const t = sentAt.get(String(m));
      if (t !== undefined) rtts.push(performance.now() - t);
      done++;
      if (performance.now() < until) sendOne();
      else if (done === seq) resolve();
    });
    for (let i = 0; i < 64; i++) sendOne();
  });
  ws.terminate();
  rtts.sort((a, b) => a - b);
  return { perSec: Math.round(done / SECONDS), p50: percentile(rtts, 50), p99: percentile(rtts, 99) };
}

const fmt = (n: number): string => (Number.isFinite(n) ? n.toFixed(2) : 'n/a');

async function main(): Promise<void> {
  const mixed: Record<'none' | 'inline' | 'offload', { p50: number[]; p99: number[]; max: number[] }> = {
    none: { p50: [], p99: [], max: [] },
    inline: { p50: [], p99: [], max: [] },
    offload: { p50: [], p99: [], max: [] },
  };
  const placement: Record<'offload' | 'local', { perSec: number[]; p50: number[]; p99: number[] }> = {
    offload: { perSec: [], p50: [], p99: [] },
    local: { perSec: [], p50: [], p99: [] },
  };
  for (let r = 0; r < REPEATS; r++) {
    for (const variant of ['none', 'inline', 'offload'] as const) {
      const server = await startServer(variant === 'inline' ? 'inline' : 'offload');
      const res = await mixedRun(server.port, variant === 'none' ? 0 : 25);
      await server.stop();
      mixed[variant].p50.push(res.p50);
      mixed[variant].p99.push(res.p99);
      mixed[variant].max.push(res.max);
      process.stderr.write(`run ${r + 1} ${variant}: echo p50 ${fmt(res.p50)} ms p99 ${fmt(res.p99)} ms (${res.echoes} echoes)\n`);
    }
    for (const mode of ['offload', 'local'] as const) {
      const server = await startServer(mode);
      const res = await taskRun(server.port);
      await server.stop();
      placement[mode].perSec.push(res.perSec);
      placement[mode].p50.push(res.p50);
      placement[mode].p99.push(res.p99);
      process.stderr.write(`run ${r + 1} pool=${mode}: ${res.perSec} no-op tasks/s, p50 ${fmt(res.p50)} ms p99 ${fmt(res.p99)} ms\n`);
    }
  }

  const none99 = median(mixed.none.p99);
  const rows = (['none', 'inline', 'offload'] as const).map(
    (v) => `| ${v} | ${fmt(median(mixed[v].p50))} | ${fmt(median(mixed[v].p99))} | ${fmt(median(mixed[v].max))} | ${fmt(median(mixed[v].p99) / none99)}x |`,
  );
  const prow = (['offload', 'local'] as const).map(
    (m) =>
      `| ${m === 'offload' ? 'primary pool (shardline)' : 'pool inside the shard'} | ${median(placement[m].perSec)} | ${fmt(median(placement[m].p50))} | ${fmt(median(placement[m].p99))} |`,
  );
  const table = [
    `Echo latency, one shard, 8 clients x 100 echoes/s, plus 25 heavy (${HEAVY_MS} ms CPU) messages/s; ${SECONDS} s per run, median of ${REPEATS}:`,
    '',
    '| heavy work | echo p50 ms | echo p99 ms | echo max ms | p99 vs none |',
    '| --- | --- | --- | --- | --- |',
    ...rows,
    '',
    `Pool placement, one shard, one pool thread, 64 no-op tasks in flight from one client; median of ${REPEATS}:`,
    '',
    '| pool | tasks/s | round trip p50 ms | p99 ms |',
    '| --- | --- | --- | --- |',
    ...prow,
  ].join('\n');
  process.stdout.write(`${table}\n`);

  const date = new Date().toISOString().slice(0, 10);
  mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
  const out = join(ROOT, `bench/results/offload-${date}.json`);
  writeFileSync(
    out,
    `${JSON.stringify({ date: new Date().toISOString(), node: process.version, cpu: cpus()[0]?.model, cores: cpus().length, seconds: SECONDS, repeats: REPEATS, heavyMs: HEAVY_MS, mixed, placement }, null, 2)}\n`,
  );
  process.stderr.write(`wrote ${out}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${String((err as Error)?.stack ?? err)}\n`);
  process.exit(1);
});
