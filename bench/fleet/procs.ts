/**
 * The processes of the fleet bench: redis-server on a probed free port, and
 * servers that print a JSON `{"msg":"ready","port":N}` line (shardline nodes,
 * the Socket.IO baseline). Also their CPU time from /proc (Linux).
 *
 * Self-contained on purpose: the load generator's helpers (src/bench) are
 * being moved, and a benchmark should not break with them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export interface Proc {
  name: string;
  child: ChildProcess;
  pid: number;
  port: number;
  /** JSON lines seen on stdout, in order. */
  logs: Record<string, unknown>[];
  stop(): Promise<void>;
}

/** A free TCP port on 127.0.0.1 (probed by binding port 0; never a service's default). */
export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const addr = srv.address();
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  if (addr === null || typeof addr === 'string') throw new Error('no port');
  return addr.port;
}

function track(name: string, child: ChildProcess): { logs: Record<string, unknown>[]; stderr: () => string; exited: Promise<number> } {
  const logs: Record<string, unknown>[] = [];
  let buf = '';
  let err = '';
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (chunk: string) => {
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (!line.startsWith('{')) continue;
      try {
        logs.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // a partial or foreign line: not ours
      }
    }
  });
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => (err = (err + chunk).slice(-4_000)));
  // 'close', not 'exit': the last stdout lines (the 'stopped' line) are parsed by then.
  const exited = new Promise<number>((resolve) => child.once('close', (code, signal) => resolve(code ?? (signal === null ? 0 : 128))));
  void exited.then((code) => {
    if (!child.killed) process.stderr.write(`fleet-fanout: ${name} exited with ${code}\n${err}\n`);
  });
  return { logs, stderr: () => err, exited };
}

function stopper(child: ChildProcess, exited: Promise<number>): () => Promise<void> {
  return async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const done = await Promise.race([exited.then(() => true), sleep(5_000).then(() => false)]);
    if (!done) {
      child.kill('SIGKILL');
      await exited;
    }
  };
}

/** Starts `node ARGS...` and waits for its ready line (60 s at most: a shared 2-core machine can be that slow). */
export async function startNode(name: string, args: string[]): Promise<Proc> {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const { logs, stderr, exited } = track(name, child);
  const stop = stopper(child, exited);
  const deadline = Date.now() + 60_000;
  for (;;) {
    const ready = logs.find((l) => l.msg === 'ready' && typeof l.port === 'number');
    if (ready !== undefined) return { name, child, pid: child.pid ?? 0, port: ready.port as number, logs, stop };
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`${name} did not print a ready line: node ${args.join(' ')}\n${stderr()}`);
    }
    await sleep(20);
  }
}

/** redis-server with no persistence, on a free port; resolves once it accepts connections. */
export async function startRedis(): Promise<Proc> {
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.once('error', (err) => process.stderr.write(`fleet-fanout: redis-server: ${err.message} (apt-get install redis-server)\n`));
  const { logs, stderr, exited } = track('redis-server', child);
  const stop = stopper(child, exited);
  const deadline = Date.now() + 10_000;
  while (!(await accepts(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`redis-server did not start on port ${port}\n${stderr()}`);
    }
    await sleep(50);
  }
  return { name: 'redis-server', child, pid: child.pid ?? 0, port, logs, stop };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => (s.end(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

const CLOCK_TICKS_PER_SEC = 100; // USER_HZ on every Linux this runs on

function ticks(statPath: string): number {
  try {
    const stat = readFileSync(statPath, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_SEC; // utime + stime
  } catch {
    return NaN;
  }
}

/** CPU ms used so far by the whole process (all threads). */
export function processCpuMs(pid: number): number {
  return ticks(`/proc/${pid}/stat`);
}

/** CPU ms used so far by the process's main thread (for shardline: the primary). */
export function mainThreadCpuMs(pid: number): number {
  return ticks(`/proc/${pid}/task/${pid}/stat`);
}

/** CPU ms used so far by the calling thread (a synchronous read runs on the thread itself). */
export function threadCpuMs(): number {
  return ticks('/proc/thread-self/stat');
}

/** Asks a process preloaded with loop-probe.ts for its figures since the last ask. */
export async function readLoopProbe(proc: Proc): Promise<Record<string, unknown> | null> {
  const before = proc.logs.length;
  proc.child.kill('SIGWINCH');
  for (let i = 0; i < 100; i++) {
    const line = proc.logs.slice(before).find((l) => l.msg === 'loop-probe');
    if (line !== undefined) return line;
    await sleep(10);
  }
  return null;
}
