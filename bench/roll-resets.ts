/**
 * How many connection attempts are reset while a SIGHUP roll closes the old
 * shards' listen sockets, with COUNT idle WebSockets held open, under a steady
 * storm of new connection attempts. Run once per setting of
 * net.ipv4.tcp_migrate_req (the benchmark reads it, it never changes it):
 *
 *   node dist/bench/roll-resets.js [COUNT=19000] [CONCURRENCY=64] [RUN=10]
 *   (RUN picks fresh source addresses 127.0.RUN.x, so no TIME_WAIT port of an earlier run collides)
 *   → one JSON line: the sysctl, the counts before the roll (baseline, same
 *     duration) and during it (SIGHUP until `reloaded` + 500 ms)
 *
 * Linux only: when one listener of a SO_REUSEPORT group closes, connections
 * already in its accept queue are reset unless tcp_migrate_req=1 moves them to
 * another listener of the group (Linux 5.14+).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';

const COUNT = Number(process.argv[2] ?? 19_000);
const CONCURRENCY = Number(process.argv[3] ?? 64);
const RUN = Number(process.argv[4] ?? 10);
/** Sockets per holder process (as bench/raw-drain.ts: a process's fd limit and one address's ports). */
const PER_PROCESS = 9_500;
const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const RAW_CLIENT = fileURLToPath(new URL('./raw-client.js', import.meta.url));
const REQUEST = Buffer.from(
  'GET / HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
);

type Outcome = 'upgraded' | 'reset' | 'refused' | 'rejected' | 'other';
type Counts = Record<Outcome, number>;
const zero = (): Counts => ({ upgraded: 0, reset: 0, refused: 0, rejected: 0, other: 0 });

/** One attempt from an address of its own (the held sockets use others): TCP, upgrade, then close. */
function attempt(port: number): Promise<Outcome> {
  return new Promise((resolve) => {
    const s = connect({ port, host: '127.0.0.1', localAddress: `127.0.${RUN}.250` });
    let data = '';
    let done = false;
    const finish = (o: Outcome): void => {
      if (done) return;
      done = true;
      s.destroy();
      resolve(o);
    };
    s.on('connect', () => s.write(REQUEST));
    s.on('data', (d: Buffer) => {
      data += d.toString('latin1');
      if (data.includes('\r\n\r\n')) finish(data.startsWith('HTTP/1.1 101') ? 'upgraded' : 'rejected');
    });
    s.on('error', (e: NodeJS.ErrnoException) =>
      finish(e.code === 'ECONNRESET' || e.code === 'EPIPE' ? 'reset' : e.code === 'ECONNREFUSED' ? 'refused' : 'other'),
    );
    s.on('close', () => finish('reset')); // closed before any answer: the accept queue was dropped
    s.setTimeout(10_000, () => finish('other'));
  });
}

/** Keeps CONCURRENCY attempts in flight until stop(); counts outcomes into the current bucket. */
function storm(port: number): { bucket(c: Counts): void; stop(): Promise<void> } {
  let counts = zero();
  let running = true;
  const lanes = Array.from({ length: CONCURRENCY }, async () => {
    while (running) counts[await attempt(port)]++;
  });
  return {
    bucket: (c) => (counts = c),
    stop: async () => {
      running = false;
      await Promise.all(lanes);
    },
  };
}

async function main(): Promise<void> {
  const migrate = readFileSync('/proc/sys/net/ipv4/tcp_migrate_req', 'utf8').trim();
  const server = spawn(process.execPath, [CLI, 'start', '--port', '0', '--host', '127.0.0.1', '--shards', '2'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: Record<string, unknown>[] = [];
  const waiters: { msg: string; resolve: (l: Record<string, unknown>) => void }[] = [];
  let buf = '';
  server.stdout.on('data', (d: Buffer) => {
    buf += d.toString();
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const line = JSON.parse(buf.slice(0, nl)) as Record<string, unknown>;
      buf = buf.slice(nl + 1);
      lines.push(line);
      for (const w of [...waiters]) if (w.msg === line.msg) waiters.splice(waiters.indexOf(w), 1), w.resolve(line);
    }
  });
  const waitFor = (msg: string): Promise<Record<string, unknown>> =>
    new Promise((resolve) => {
      const seen = lines.find((l) => l.msg === msg);
      if (seen) resolve(seen);
      else waiters.push({ msg, resolve });
    });
  const port = (await waitFor('ready')).port as number;

  const holders = Array.from({ length: Math.ceil(COUNT / PER_PROCESS) }, (_, g) =>
    spawn(process.execPath, [RAW_CLIENT, String(port), String(Math.min(PER_PROCESS, COUNT - g * PER_PROCESS)), `127.0.${RUN}.${g + 2}`], {
      stdio: ['ignore', 'pipe', 'inherit'],
    }),
  );
  const each = await Promise.all(
    holders.map(
      (h) =>
        new Promise<{ opened: number; failed: number }>((resolve) =>
          h.stdout.once('data', (d: Buffer) => resolve(JSON.parse(d.toString().split('\n')[0] ?? '{}') as { opened: number; failed: number })),
        ),
    ),
  );
  const opened = { opened: each.reduce((n, e) => n + e.opened, 0), failed: each.reduce((n, e) => n + e.failed, 0) };

  const s = storm(port);
  const baseline = zero();
  s.bucket(baseline);
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, 2000));
  const during = zero();
  s.bucket(during);
  const t1 = performance.now();
  server.kill('SIGHUP');
  const reloaded = await waitFor('reloaded');
  await new Promise((r) => setTimeout(r, 500));
  const t2 = performance.now();
  s.bucket(zero());
  await s.stop();
  server.kill('SIGTERM');
  await new Promise((r) => server.once('exit', r));
  for (const h of holders) h.kill('SIGKILL');
  process.stdout.write(
    `${JSON.stringify({
      tcp_migrate_req: Number(migrate),
      held: opened,
      concurrency: CONCURRENCY,
      baseline: { ms: Math.round(t1 - t0), ...baseline },
      roll: { ms: Math.round(t2 - t1), rollMs: reloaded.durationMs, closed: reloaded.connectionsClosed, ...during },
    })}\n`,
  );
}

void main();
