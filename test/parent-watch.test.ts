/**
 * The server under a real `npm start` (npm 11 here): npm passes SIGTERM on;
 * and when npm dies without passing anything on (SIGKILL), the server notices
 * it was orphaned (src/cli/parent-watch.ts), drains and exits 0.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it, onTestFinished } from 'vitest';
import { connect } from './helpers/client.js';
import { CLI, tempFile, type LogLine } from './helpers/server.js';

interface NpmServer {
  npm: ChildProcess;
  /** The server's own pid (from its log lines), npm's grandchild... or child with `exec`. */
  pid: number;
  port: number;
  logs: LogLine[];
  /** Resolves when the server's stdout closes: every holder of the pipe (npm, the server) is gone. */
  stdoutClosed: Promise<void>;
  waitForLog(pred: (l: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
}

/** `npm start` in a package whose start script runs shardline, as a project would. */
async function npmStart(): Promise<NpmServer> {
  const dir = dirname(tempFile('package.json', ''));
  const script = `exec node ${JSON.stringify(CLI)} start --port 0 --host 127.0.0.1 --shards 1`;
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true, scripts: { start: script } }));
  const npm = spawn('npm', ['start'], { cwd: dir, env: { ...process.env, npm_config_update_notifier: 'false' }, stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: LogLine[] = [];
  const waiters: { pred: (l: LogLine) => boolean; resolve: (l: LogLine) => void }[] = [];
  let buf = '';
  npm.stdout?.setEncoding('utf8');
  npm.stdout?.on('data', (chunk: string) => {
    buf += chunk;
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (!line.startsWith('{')) continue; // npm's own "> app@1.0.0 start" banner
      const parsed = JSON.parse(line) as LogLine;
      logs.push(parsed);
      for (const w of [...waiters]) if (w.pred(parsed)) waiters.splice(waiters.indexOf(w), 1), w.resolve(parsed);
    }
  });
  const stdoutClosed = once(npm.stdout as NodeJS.ReadableStream, 'close').then(() => undefined);
  const waitForLog = (pred: (l: LogLine) => boolean, timeoutMs = 20_000): Promise<LogLine> => {
    const seen = logs.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching log line; logs: ${JSON.stringify(logs)}`)), timeoutMs);
      waiters.push({ pred, resolve: (l) => (clearTimeout(timer), resolve(l)) });
    });
  };
  const ready = await waitForLog((l) => l.msg === 'ready');
  const pid = ready.pid as number;
  onTestFinished(() => {
    for (const p of [npm.pid, pid]) {
      try {
        if (p !== undefined) process.kill(p, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });
  return { npm, pid, port: ready.port as number, logs, stdoutClosed, waitForLog };
}

/** Gone, or a zombie nobody reaps (this machine's PID 1 does not reap orphans). */
function ended(pid: number): boolean {
  const stat = `/proc/${pid}/stat`;
  if (!existsSync(stat)) return true;
  try {
    return readFileSync(stat, 'utf8').split(') ')[1]?.startsWith('Z') ?? true;
  } catch {
    return true;
  }
}

describe('under npm start', () => {
  it('npm 11 passes SIGTERM on to the server: it drains and exits 0', async () => {
    const s = await npmStart();
    const client = await connect(s.port);
    s.npm.kill('SIGTERM');
    expect((await client.closed).code).toBe(1001);
    expect((await s.waitForLog((l) => l.msg === 'drain')).signal).toBe('SIGTERM');
    expect((await s.waitForLog((l) => l.msg === 'stopped')).exitCode).toBe(0);
    await s.stdoutClosed;
  });

  it('npm SIGKILLed: the orphaned server notices, drains (1001) and exits 0', async () => {
    const s = await npmStart();
    const client = await connect(s.port);
    s.npm.kill('SIGKILL');
    const gone = await s.waitForLog((l) => l.msg.startsWith('parent process gone'));
    expect(gone.how).toBe('reparented');
    expect((await client.closed).code).toBe(1001);
    expect((await s.waitForLog((l) => l.msg === 'stopped')).exitCode).toBe(0);
    await s.stdoutClosed;
    for (let i = 0; i < 50 && !ended(s.pid); i++) await sleep(100);
    expect(ended(s.pid)).toBe(true);
  });
});
