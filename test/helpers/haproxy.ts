/**
 * A real HAProxy (Debian's `haproxy`, installed by .ci/run) in front of
 * shardline nodes: WebSocket tunnels, health-checked on /readyz with
 * HTTP/1.1 (uWS does not answer HTTP/1.0 checks), a node marked DOWN after one
 * failed check and UP after two good ones, 300 ms apart.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { onTestFinished } from 'vitest';
import { tempFile } from './server.js';

export interface Haproxy {
  port: number;
  /** Backend server name -> status (UP, DOWN, ...) from the stats socket. */
  status(): Promise<Map<string, string>>;
  /** Resolves once every named server has `want` status. */
  waitStatus(names: string[], want: string, timeoutMs?: number): Promise<void>;
}

export async function startHaproxy(front: number, servers: { name: string; port: number }[]): Promise<Haproxy> {
  const dir = dirname(tempFile('haproxy.cfg', ''));
  const sock = join(dir, 'stats.sock');
  const cfg = join(dir, 'haproxy.cfg');
  const conf = [
    'global',
    '  maxconn 8000', // 2 fds per tunnelled connection, under the 20,000 fd limit here
    `  stats socket ${sock} level admin`,
    'defaults',
    '  mode http',
    '  timeout connect 2s',
    '  timeout client 60s',
    '  timeout server 60s',
    '  timeout tunnel 1h',
    '  timeout check 1s',
    'frontend fe',
    `  bind 127.0.0.1:${front}`,
    '  default_backend be',
    'backend be',
    '  balance leastconn',
    '  option httpchk',
    '  http-check send meth GET uri /readyz ver HTTP/1.1 hdr Host localhost',
    '  default-server inter 300 fall 1 rise 2',
    ...servers.map((s) => `  server ${s.name} 127.0.0.1:${s.port} check`),
    '',
  ].join('\n');
  const { writeFileSync } = await import('node:fs');
  writeFileSync(cfg, conf);
  // A missing binary fails here (spawn ENOENT): .ci/run installs haproxy.
  const proc = spawn('haproxy', ['-db', '-f', cfg], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const failed = new Promise<never>((_, reject) => {
    proc.once('error', reject);
    proc.once('exit', (code) => reject(new Error(`haproxy exited ${code}: ${stderr}`)));
  });
  failed.catch(() => {});
  onTestFinished(async () => {
    if (proc.exitCode === null) {
      proc.kill('SIGKILL');
      await once(proc, 'exit');
    }
  });
  const status = async (): Promise<Map<string, string>> => {
    const text = await new Promise<string>((resolve, reject) => {
      const s = connect(sock, () => s.write('show stat\n'));
      let out = '';
      s.on('data', (d) => (out += d.toString()));
      s.on('end', () => resolve(out));
      s.on('error', reject);
    });
    const [header, ...rows] = text.trim().split('\n');
    const cols = (header ?? '').replace(/^# /, '').split(',');
    const out = new Map<string, string>();
    for (const row of rows) {
      const f = row.split(',');
      if (f[cols.indexOf('pxname')] === 'be') out.set(f[cols.indexOf('svname')] ?? '', f[cols.indexOf('status')] ?? '');
    }
    return out;
  };
  const waitStatus = async (names: string[], want: string, timeoutMs = 15_000): Promise<void> => {
    const end = performance.now() + timeoutMs;
    for (;;) {
      const st = await Promise.race([status().catch(() => new Map<string, string>()), failed]);
      if (names.every((n) => st.get(n) === want)) return;
      if (performance.now() > end) throw new Error(`haproxy: ${names.join(',')} not ${want}: ${JSON.stringify([...st])}; ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  return { port: front, status, waitStatus };
}
