/**
 * Idle drain with raw-TCP clients (node dist/bench/raw-drain.js [--connections N] [--repeats R]).
 *
 * `npm run bench` drives the servers with `ws` clients, which on this 2-core
 * machine need more CPU to take 19,000 close frames than the servers need to
 * send them, so the clients set the pace. Here every client is a few lines of
 * raw TCP (bench/raw-client.ts), so the figures say more about the servers.
 * Measured from the SIGTERM: the last close frame received, the last socket
 * closed, and the server's exit. Servers alternate; medians of R runs.
 * `--servers a,b` runs only those (per-run lines only, for experiments).
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { cpus } from 'node:os';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServerCommand } from '../src/loadgen/server-proc.js';
import { ROOT, SERVERS, serverCommand, type ServerName } from './servers.js';

const CLIENT = fileURLToPath(new URL('./raw-client.js', import.meta.url));
const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const N = arg('--connections', 19_000);
const only = process.argv.includes('--servers') ? (process.argv[process.argv.indexOf('--servers') + 1] ?? '').split(',') : null;
const servers = SERVERS.filter((s) => only === null || only.includes(s));
const REPEATS = arg('--repeats', 3);
const PER_PROCESS = 9_500;
const now = (): number => performance.timeOrigin + performance.now();

interface Run {
  lastFrameMs: number;
  lastClosedMs: number;
  exitMs: number;
  codes: Record<string, number>;
  exitCode: number;
}

async function once(name: ServerName, round: number): Promise<Run> {
  const server = await startServerCommand(serverCommand(name, false));
  const groups = Math.ceil(N / PER_PROCESS);
  const results: Promise<Record<string, unknown>>[] = [];
  const opened: Promise<Record<string, number>>[] = [];
  for (let g = 0; g < groups; g++) {
    const n = Math.min(PER_PROCESS, N - g * PER_PROCESS);
    // A fresh source address each run, so no TIME_WAIT port of the last run collides.
    const child = spawn(process.execPath, [CLIENT, String(server.port), String(n), `127.0.${1 + round}.${g + 2}`], { stdio: ['ignore', 'pipe', 'inherit'] });
    const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    const first = lines.next().then(({ value }) => JSON.parse(String(value)) as Record<string, number>);
    opened.push(first);
    results.push(first.then(() => lines.next()).then(({ value }) => JSON.parse(String(value)) as Record<string, unknown>));
  }
  const o = await Promise.all(opened);
  const failed = o.reduce((s, r) => s + (r.failed ?? 0), 0);
  if (failed > 0) throw new Error(`${name}: ${failed} connections failed`);
  await new Promise((r) => setTimeout(r, 1000)); // let the server settle
  const t0 = now();
  server.child.kill('SIGTERM');
  const [rs, exit] = await Promise.all([Promise.all(results), server.exited]);
  const codes: Record<string, number> = {};
  for (const r of rs) for (const [k, v] of Object.entries(r.codes as Record<string, number>)) codes[k] = (codes[k] ?? 0) + v;
  return {
    lastFrameMs: Math.round(Math.max(...rs.map((r) => r.lastFrame as number)) - t0),
    lastClosedMs: Math.round(Math.max(...rs.map((r) => r.lastClosed as number)) - t0),
    exitMs: Math.round(exit.at - t0),
    codes,
    exitCode: exit.code,
  };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)] as number;

async function main(): Promise<void> {
  const runs: Record<string, Run[]> = {};
  for (let r = 0; r < REPEATS; r++) {
    for (const name of servers) {
      const run = await once(name, r);
      (runs[name] ??= []).push(run);
      process.stderr.write(
        `run ${r + 1} ${name}: last frame ${run.lastFrameMs} ms, last closed ${run.lastClosedMs} ms, exit ${run.exitMs} ms, codes ${JSON.stringify(run.codes)}, exit code ${run.exitCode}\n`,
      );
    }
  }
  if (only !== null) return; // a partial run: the per-run lines are the result
  const done = (name: string): number => Math.max(median((runs[name] ?? []).map((x) => x.lastClosedMs)), median((runs[name] ?? []).map((x) => x.exitMs)));
  const ws = done('ws');
  const raw = done('uws-raw');
  const rows = SERVERS.map((name) => {
    const rs = runs[name] ?? [];
    const codes = rs.reduce<Record<string, number>>((acc, x) => {
      for (const [k, v] of Object.entries(x.codes)) acc[k] = (acc[k] ?? 0) + v;
      return acc;
    }, {});
    const d = done(name);
    return `| ${name} | ${median(rs.map((x) => x.lastFrameMs))} | ${median(rs.map((x) => x.lastClosedMs))} | ${median(rs.map((x) => x.exitMs))} | ${d} | ${(d / ws).toFixed(2)}x | ${(d / raw).toFixed(2)}x | ${Object.entries(
      codes,
    )
      .map(([k, v]) => `${k}: ${v}`)
      .join(', ')} | ${rs.map((x) => x.exitCode).join(', ')} |`;
  });
  const table = [
    `Idle drain, ${N.toLocaleString('en-US')} connections from raw-TCP clients (${Math.ceil(N / PER_PROCESS)} processes), median of ${REPEATS}; ms from the SIGTERM:`,
    '',
    '| server | last close frame | last socket closed | server exit | drain (later of the two) | × ws | × uws-raw | close codes (all runs) | exit codes |',
    '|---|---:|---:|---:|---:|---:|---:|---|---|',
    ...rows,
  ].join('\n');
  process.stdout.write(`${table}\n`);
  mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
  const file = join(ROOT, `bench/results/raw-drain-${new Date().toISOString().slice(0, 16).replace(':', '-')}.json`);
  writeFileSync(
    file,
    `${JSON.stringify({ date: new Date().toISOString(), node: process.version, cpu: cpus()[0]?.model, cores: cpus().length, connections: N, repeats: REPEATS, runs }, null, 2)}\n`,
  );
  process.stderr.write(`wrote ${file}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${String((err as Error)?.stack ?? err)}\n`);
  process.exit(1);
});
