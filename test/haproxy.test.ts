/**
 * A real HAProxy (Debian's `haproxy`, installed by .ci/run) in front of two
 * shardline nodes, with HAProxy's default health check `option httpchk GET
 * /readyz` (HTTP/1.0, no Host). Regression: uWS v20.30 never answers HTTP/1.0,
 * so every node checked on its WebSocket port is marked DOWN; the primary's
 * node:http listener (`health.port`) answers it.
 */
import { execFileSync, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { connect as unixConnect, createServer, type AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it, onTestFinished } from 'vitest';
import { connect, refused, type Client } from './helpers/client.js';
import { configFile, startServer, tempFile, type ServerProcess } from './helpers/server.js';

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as AddressInfo;
  await new Promise((r) => srv.close(r));
  return port;
}

/** `show stat` over HAProxy's stats socket: server name -> { status, stot }. */
async function stats(sock: string): Promise<Map<string, { status: string; stot: number }>> {
  const text = await new Promise<string>((resolve, reject) => {
    const s = unixConnect(sock, () => s.write('show stat\n'));
    let out = '';
    s.on('data', (d) => (out += d.toString()));
    s.on('end', () => resolve(out));
    s.on('error', reject);
  });
  const [header, ...rows] = text.trim().split('\n');
  const cols = (header ?? '').replace(/^# /, '').split(',');
  const at = (name: string): number => cols.indexOf(name);
  const out = new Map<string, { status: string; stot: number }>();
  for (const row of rows) {
    const f = row.split(',');
    out.set(`${f[at('pxname')]}/${f[at('svname')]}`, { status: f[at('status')] ?? '', stot: Number(f[at('stot')]) });
  }
  return out;
}

async function until(pred: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (!(await pred())) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

async function node(delayMs: number): Promise<ServerProcess & { health: number }> {
  const server = await startServer(['--shards', '1', '--config', configFile({ health: { port: 0 }, drain: { delayMs } })]);
  return Object.assign(server, { health: server.logs.find((l) => l.msg === 'ready')?.healthPort as number });
}

describe('behind a real HAProxy', () => {
  it('default httpchk: both nodes UP via health.port (DOWN on the uWS port); a draining node is DOWN before its listener closes', async () => {
    // A missing binary fails the test: .ci/run installs it.
    expect(execFileSync('haproxy', ['-v']).toString()).toMatch(/HAProxy version/);
    const [a, b] = await Promise.all([node(3000), node(0)]);
    const front = await freePort();
    const dir = dirname(tempFile('haproxy.cfg', ''));
    const sock = join(dir, 'stats.sock');
    const cfg = join(dir, 'haproxy.cfg');
    const conf = [
      'global',
      `  stats socket ${sock} level admin`,
      'defaults',
      '  mode http',
      '  timeout connect 2s',
      '  timeout client 30s',
      '  timeout server 30s',
      '  timeout tunnel 60s',
      '  timeout check 1s',
      'frontend fe',
      `  bind 127.0.0.1:${front}`,
      '  default_backend be',
      'backend be',
      '  option httpchk GET /readyz',
      `  server a 127.0.0.1:${a.port} check port ${a.health} inter 200 fall 1 rise 1`,
      `  server b 127.0.0.1:${b.port} check port ${b.health} inter 200 fall 1 rise 1`,
      // The same default check against the uWS port: what operators got before health.port.
      'backend uws',
      '  option httpchk GET /readyz',
      `  server a 127.0.0.1:${a.port} check inter 200 fall 1 rise 1`,
      '',
    ].join('\n');
    writeFileSync(cfg, conf);
    const haproxy = spawn('haproxy', ['-f', cfg, '-db'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let haproxyErr = '';
    haproxy.stderr.on('data', (d: Buffer) => (haproxyErr += d.toString()));
    onTestFinished(() => {
      haproxy.kill('SIGKILL');
    });

    await until(
      async () => {
        try {
          const s = await stats(sock);
          return s.get('be/a')?.status === 'UP' && s.get('be/b')?.status === 'UP' && s.get('uws/a')?.status === 'DOWN';
        } catch {
          return false;
        }
      },
      15_000,
      `be/a and be/b UP, uws/a DOWN (haproxy: ${haproxyErr})`,
    );

    // WebSockets through HAProxy reach both nodes.
    const before: Client[] = [];
    for (let i = 0; i < 20; i++) before.push(await connect(front));
    const s0 = await stats(sock);
    expect(s0.get('be/a')?.stot).toBeGreaterThan(0);
    expect(s0.get('be/b')?.stot).toBeGreaterThan(0);

    // Drain a with drain.delayMs 3000: /readyz is 503 at once, its listener closes 3 s later.
    a.signal('SIGTERM');
    await until(async () => (await stats(sock)).get('be/a')?.status.startsWith('DOWN') === true, 2500, 'be/a DOWN');
    expect(await refused(a.port)).toBe(false); // still accepting: HAProxy took it out first
    expect(a.logs.some((l) => l.msg === 'shard drained')).toBe(false);

    const s1 = await stats(sock);
    const after: Client[] = [];
    for (let i = 0; i < 10; i++) after.push(await connect(front));
    const s2 = await stats(sock);
    expect(s2.get('be/a')?.stot).toBe(s1.get('be/a')?.stot);
    expect((s2.get('be/b')?.stot ?? 0) - (s1.get('be/b')?.stot ?? 0)).toBe(10);
    for (const c of after) {
      c.ws.send('via b');
      await c.waitFor(1);
    }

    expect((await a.exited).code).toBe(0);
    expect(await refused(a.port)).toBe(true);
    b.signal('SIGTERM');
    expect((await b.exited).code).toBe(0);
  }, 60_000);
});
