/**
 * The server under test, as a child process started from a shell command.
 *
 * The command is run as `sh -c 'exec CMD'` (so the signal reaches the server
 * itself, not a shell). It is ready, in the order tried:
 * - `readyRegex`: a line of its stdout or stderr matches; the first capture
 *   group, when there is one, is the port (else `port` must be given);
 * - `port` alone: known up front (the caller waits until it accepts);
 * - otherwise it must print a JSON line with `"msg":"ready"` and the `port`
 *   it listens on to stdout (pass `--port 0` to let it pick a free port);
 *   shardline and both baselines do.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { epochNow } from './protocol.js';

export interface ServerProc {
  child: ChildProcess;
  pid: number;
  port: number;
  /** Resolves with the exit code (128 + signal number when killed) and the epoch ms it happened. */
  exited: Promise<{ code: number; at: number }>;
  /** Every JSON log line seen on stdout. */
  logs: Record<string, unknown>[];
  stderr(): string;
  /** SIGKILL if still running, and wait for the exit. */
  kill(): Promise<void>;
}

const SIGNUMS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGABRT: 6, SIGKILL: 9, SIGSEGV: 11, SIGTERM: 15 };

export interface ReadyOptions {
  env?: NodeJS.ProcessEnv;
  readyTimeoutMs?: number;
  readyRegex?: RegExp | undefined;
  port?: number | undefined;
}

export async function startServerCommand(command: string, opts: ReadyOptions = {}): Promise<ServerProc> {
  const child = spawn('/bin/sh', ['-c', `exec ${command}`], { env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: Record<string, unknown>[] = [];
  let err = '';
  let buf = '';
  let errBuf = '';
  let onReady: ((port: number) => void) | null = null;
  const matchReady = (line: string): void => {
    const m = opts.readyRegex?.exec(line);
    if (m === null || m === undefined) return;
    const port = m[1] !== undefined && /^\d+$/.test(m[1]) ? Number(m[1]) : opts.port;
    if (port !== undefined) onReady?.(port);
  };
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (chunk: string) => {
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      matchReady(line);
      if (!line.startsWith('{')) continue;
      try {
        const obj = JSON.parse(line) as Record<string, unknown>;
        logs.push(obj);
        if (opts.readyRegex === undefined && obj.msg === 'ready' && typeof obj.port === 'number') onReady?.(obj.port);
      } catch {
        // not a JSON line: ignore
      }
    }
  });
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    err = (err + chunk).slice(-8_000);
    if (opts.readyRegex === undefined) return;
    errBuf += chunk;
    let nl: number;
    while ((nl = errBuf.indexOf('\n')) >= 0) {
      matchReady(errBuf.slice(0, nl).trim());
      errBuf = errBuf.slice(nl + 1);
    }
  });
  const exited = new Promise<{ code: number; at: number }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code: code ?? 128 + (SIGNUMS[signal ?? ''] ?? 0), at: epochNow() }));
  });
  const kill = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  };
  const timeoutMs = opts.readyTimeoutMs ?? 20_000;
  try {
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`server was not ready (ready line, --ready-regex or --port) within ${timeoutMs} ms: ${command}\n${err}`)),
        timeoutMs,
      );
      onReady = (p) => (clearTimeout(timer), resolve(p));
      // A known port and no line to wait for: the caller waits until it accepts connections.
      if (opts.readyRegex === undefined && opts.port !== undefined) onReady(opts.port);
      void exited.then(({ code }) => (clearTimeout(timer), reject(new Error(`server exited with code ${code} before it was ready: ${command}\n${err}`))));
    });
    return { child, pid: child.pid ?? 0, port, exited, logs, stderr: () => err, kill };
  } catch (e) {
    await kill();
    throw e;
  }
}
