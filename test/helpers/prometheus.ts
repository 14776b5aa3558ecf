/**
 * Metrics test helpers: a probed free port, a parsed /metrics scrape, and a
 * real Prometheus server (Debian's `prometheus`, installed by .ci/run) started
 * on a free port with a config that scrapes one target every second.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onTestFinished } from 'vitest';

/**
 * A free port below the kernel's ephemeral range (ip_local_port_range,
 * 32768-60999 here), probed by binding it. A port from listen(0) would be
 * in that range, where another job's outgoing connections (tests here open
 * 19,000 at once) can take it as a source port between the probe and the
 * real bind (EADDRINUSE). The metrics listener treats port 0 as "off", so
 * the tests need a real number.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const srv = createServer();
    const ok = await new Promise<boolean>((resolve) => {
      srv.once('error', () => resolve(false));
      srv.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (ok) {
      await new Promise<void>((resolve) => srv.close(() => resolve()));
      return port;
    }
  }
  throw new Error('no free port found in 20000-31999');
}

export interface Scrape {
  /** `name{a="x",b="y"}` (labels as rendered) → value. */
  values: Map<string, number>;
  /** Metric family name → its TYPE. */
  types: Map<string, string>;
  text: string;
}

export async function scrape(port: number): Promise<Scrape> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  if (res.status !== 200) throw new Error(`GET /metrics: ${res.status}`);
  const text = await res.text();
  const values = new Map<string, number>();
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line.startsWith('# TYPE ')) {
      const [, , name, type] = line.split(' ');
      types.set(name as string, type as string);
    } else if (line !== '' && !line.startsWith('#')) {
      const at = line.lastIndexOf(' ');
      values.set(line.slice(0, at), Number(line.slice(at + 1)));
    }
  }
  return { values, types, text };
}

/** The value of one series; throws if the scrape lacks it (a missing series is a failure, not a 0). */
export function value(s: Scrape, series: string): number {
  const v = s.values.get(series);
  if (v === undefined) throw new Error(`no series ${series} in the scrape`);
  return v;
}

/** Sum of every series of a family (e.g. shardline_connections over its shard label). */
export function sumOf(s: Scrape, family: string): number {
  let sum = 0;
  for (const [k, v] of s.values) if (k === family || k.startsWith(`${family}{`)) sum += v;
  return sum;
}

/** Every counter series, and every histogram bucket/sum/count (the values that must never go down). */
export function monotonicSeries(s: Scrape): Map<string, number> {
  const out = new Map<string, number>();
  for (const [k, v] of s.values) {
    const family = k.split('{')[0] as string;
    const base = family.replace(/_(bucket|sum|count)$/, '');
    if (s.types.get(family) === 'counter' || s.types.get(base) === 'histogram') out.set(k, v);
  }
  return out;
}

export interface Prometheus {
  port: number;
  /** Runs an instant query; returns its vector result. */
  query(promql: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]>;
}

/** Starts `prometheus` scraping 127.0.0.1:targetPort every second; stopped (SIGTERM) after the test. */
export async function startPrometheus(targetPort: number): Promise<Prometheus> {
  const dir = mkdtempSync(join(tmpdir(), 'shardline-prom-'));
  const config = join(dir, 'prometheus.yml');
  writeFileSync(
    config,
    [
      'global:',
      '  scrape_interval: 1s',
      '  scrape_timeout: 1s',
      'scrape_configs:',
      '  - job_name: shardline',
      '    static_configs:',
      `      - targets: ['127.0.0.1:${targetPort}']`,
      '',
    ].join('\n'),
  );
  const port = await freePort();
  let stderr = '';
  const child = spawn(
    'prometheus',
    [`--config.file=${config}`, `--web.listen-address=127.0.0.1:${port}`, `--storage.tsdb.path=${join(dir, 'data')}`, '--log.level=warn'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (c: string) => (stderr = (stderr + c).slice(-4000)));
  const spawnError = once(child, 'error').then(([err]) => {
    throw new Error(`cannot run prometheus (apt-get install prometheus; .ci/run does it): ${(err as Error).message}`);
  });
  onTestFinished(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
    rmSync(dir, { recursive: true, force: true });
  });
  const base = `http://127.0.0.1:${port}`;
  // Ready once /-/ready answers 200 (Prometheus has loaded its config and TSDB).
  const deadline = Date.now() + 30_000;
  for (;;) {
    const ok = await Promise.race([
      fetch(`${base}/-/ready`).then(
        (r) => r.status === 200,
        () => false,
      ),
      spawnError,
    ]);
    if (ok) break;
    if (child.exitCode !== null) throw new Error(`prometheus exited with ${child.exitCode}: ${stderr}`);
    if (Date.now() > deadline) throw new Error(`prometheus not ready after 30 s: ${stderr}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    port,
    async query(promql) {
      const res = await fetch(`${base}/api/v1/query?query=${encodeURIComponent(promql)}`);
      const body = (await res.json()) as { status: string; data?: { result: { metric: Record<string, string>; value: [number, string] }[] }; error?: string };
      if (body.status !== 'success' || body.data === undefined) throw new Error(`query ${promql}: ${body.error ?? res.status}`);
      return body.data.result;
    },
  };
}
