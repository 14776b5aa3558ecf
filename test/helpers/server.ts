/**
 * Runs the real `shardline` CLI (built into dist/) as a child process, reads
 * its JSON log lines, and sends it real signals.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { onTestFinished } from 'vitest';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const CLI = fileURLToPath(new URL('../../dist/src/cli/main.js', import.meta.url));
export const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));

/** Writes `content` to a file called `name` in a fresh temporary folder, removed after the test. */
export function tempFile(name: string, content: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'shardline-test-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, name);
  writeFileSync(file, content);
  return file;
}

/** A JSON config file holding `data`. */
export function configFile(data: unknown): string {
  return tempFile('shardline.json', JSON.stringify(data));
}

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

export interface ServerProcess {
  child: ChildProcessWithoutNullStreams;
  port: number;
  logs: LogLine[];
  stderr: () => string;
  /** Resolves with the first log line matching `pred` (already seen or yet to come). */
  waitForLog(pred: (l: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** Resolves with the exit code (or 128 + signal number) and the time it exited. */
  exited: Promise<{ code: number; at: number }>;
  signal(sig: NodeJS.Signals): number;
}

const SIGNUMS: Partial<Record<NodeJS.Signals, number>> = { SIGKILL: 9, SIGTERM: 15, SIGINT: 2, SIGABRT: 6, SIGSEGV: 11 };

/** Spawns `shardline <args>`; with waitReady, resolves once the `ready` line arrives. */
export function runCli(args: string[], opts: { waitReady?: boolean; env?: NodeJS.ProcessEnv } = {}): Promise<ServerProcess> {
  return runNode([CLI, ...args], opts);
}

/** Spawns `node <argv>` (a fixture server, say) the same way: JSON lines on stdout, `ready` with its port. */
export async function runNode(argv: string[], opts: { waitReady?: boolean; env?: NodeJS.ProcessEnv } = {}): Promise<ServerProcess> {
  const child = spawn(process.execPath, argv, { cwd: ROOT, env: { ...process.env, ...opts.env } });
  const logs: LogLine[] = [];
  const waiters: { pred: (l: LogLine) => boolean; resolve: (l: LogLine) => void }[] = [];
  let err = '';
  let buf = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (!line.trim()) continue;
      let parsed: LogLine;
      try {
        parsed = JSON.parse(line) as LogLine;
      } catch {
        parsed = { level: 0, msg: line };
      }
      logs.push(parsed);
      for (const w of [...waiters]) {
        if (w.pred(parsed)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(parsed);
        }
      }
    }
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => (err += chunk));
  const exited = once(child, 'exit').then(([code, signal]) => ({
    code: typeof code === 'number' ? code : 128 + (SIGNUMS[signal as NodeJS.Signals] ?? 0),
    at: performance.now(),
  }));
  onTestFinished(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  });
  const waitForLog = (pred: (l: LogLine) => boolean, timeoutMs = 15_000): Promise<LogLine> => {
    const seen = logs.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no matching log line within ${timeoutMs} ms; stderr: ${err}; logs: ${JSON.stringify(logs)}`)),
        timeoutMs,
      );
      waiters.push({ pred, resolve: (l) => (clearTimeout(timer), resolve(l)) });
      void exited.then(({ code }) =>
        setTimeout(() => reject(new Error(`exited (code ${code}) before the log line; stderr: ${err}; logs: ${JSON.stringify(logs)}`)), 50),
      );
    });
  };
  const proc: ServerProcess = {
    child,
    port: 0,
    logs,
    stderr: () => err,
    waitForLog,
    exited,
    signal: (sig) => {
      child.kill(sig);
      return performance.now();
    },
  };
  if (opts.waitReady !== false) {
    const ready = await waitForLog((l) => l.msg === 'ready', 60_000); // a loaded 2-core machine can take 20 s to load uWS in every shard
    proc.port = ready.port as number;
  }
  return proc;
}

/** Starts a server on a free port (`--port 0`), waiting for `ready`. */
export function startServer(args: string[] = [], opts: { env?: NodeJS.ProcessEnv } = {}): Promise<ServerProcess> {
  return runCli(['start', '--port', '0', '--host', '127.0.0.1', ...args], { ...opts, waitReady: true });
}
