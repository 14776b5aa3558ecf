/**
 * Real redis-server processes for the broker tests: a single Redis on a free
 * port (never 6379) and a 3-master Redis Cluster on loopback. Each server
 * gets a temp dir, no RDB and no AOF (`--save '' --appendonly no`), so a
 * SIGKILL and a restart on the same port come back empty, like a Redis that
 * lost its data.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A port nothing listens on now (the kernel's choice for port 0). */
export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const addr = srv.address();
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  if (addr === null || typeof addr === 'string') throw new Error('no port');
  return addr.port;
}

/** Resolves once the server answers PING, or throws after `ms`. */
async function waitPong(port: number, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.setTimeout(500, () => s.destroy());
      s.once('connect', () => s.write('PING\r\n'));
      s.once('data', (d) => {
        resolve(d.toString().startsWith('+PONG'));
        s.destroy();
      });
      s.once('error', () => resolve(false));
      s.once('close', () => resolve(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`redis-server on ${port} did not answer PING within ${ms} ms`);
}

export class RedisServer {
  readonly port: number;
  readonly dir: string;
  private readonly args: string[];
  private proc: ChildProcess | undefined;

  constructor(port: number, extraArgs: string[] = []) {
    this.port = port;
    this.dir = mkdtempSync(join(tmpdir(), `sl-redis-${port}-`));
    this.args = [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      this.dir,
      '--logfile',
      join(this.dir, 'redis.log'),
      // DEBUG SLEEP from loopback (Redis 7 refuses DEBUG by default).
      '--enable-debug-command',
      'local',
      ...extraArgs,
    ];
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    // A missing redis-server fails the test here (spawn ENOENT), it never skips.
    const proc = spawn('redis-server', this.args, { stdio: 'ignore' });
    this.proc = proc;
    // A test process that ends without stop() (a failed hook, a killed run) takes its Redis with it.
    const reap = () => proc.kill('SIGKILL');
    process.once('exit', reap);
    proc.once('exit', () => process.off('exit', reap));
    const failed = new Promise<never>((_, reject) => proc.once('error', reject));
    await Promise.race([waitPong(this.port), failed]);
  }

  /** SIGKILL: the server dies without a word to its clients' sockets beyond the kernel's RST/FIN. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((resolve) => proc.once('exit', resolve));
    proc.kill(signal);
    await exited;
  }

  /** redis-cli against this server; the reply as text. */
  async cli(...args: string[]): Promise<string> {
    const { stdout } = await run('redis-cli', ['-p', String(this.port), ...args]);
    return stdout.trim();
  }

  /**
   * Sends one inline command on a raw socket from this process (no child
   * process to spawn first, so it reaches Redis now) and resolves with the reply.
   */
  raw(command: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const s = connect(this.port, '127.0.0.1');
      s.once('connect', () => s.write(`${command}\r\n`));
      s.once('data', (d) => {
        resolve(d.toString().trim());
        s.destroy();
      });
      s.once('error', reject);
    });
  }

  async stop(): Promise<void> {
    await this.kill('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export async function startRedis(extraArgs: string[] = []): Promise<RedisServer> {
  const srv = new RedisServer(await freePort(), extraArgs);
  await srv.start();
  return srv;
}

export interface RedisCluster {
  nodes: RedisServer[];
  urls: string[];
  stop(): Promise<void>;
}

/** Three masters, no replicas, on loopback; resolves once every node says cluster_state:ok. */
export async function startRedisCluster(): Promise<RedisCluster> {
  const nodes: RedisServer[] = [];
  const stop = async () => {
    await Promise.all(nodes.map((n) => n.stop()));
  };
  try {
    for (let i = 0; i < 3; i++) {
      const port = await freePort();
      const bus = await freePort();
      const n = new RedisServer(port, [
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        'nodes.conf',
        '--cluster-port',
        String(bus),
        '--cluster-node-timeout',
        '5000',
      ]);
      nodes.push(n);
      await n.start();
    }
    await run('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes']);
    const until = Date.now() + 20_000;
    for (const n of nodes) {
      while (!(await n.cli('cluster', 'info')).includes('cluster_state:ok')) {
        if (Date.now() > until) throw new Error('the Redis Cluster did not reach cluster_state:ok in 20 s');
        await sleep(100);
      }
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { nodes, urls: nodes.map((n) => n.url), stop };
}
