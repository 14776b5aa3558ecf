/**
 * The server under test, as a child process started from a shell command.
 *
 * Contract: the command is run as `sh -c 'exec CMD'` (so the signal reaches the
 * server itself, not a shell) and must print a JSON line with
 * `"msg":"ready"` and the `port` it listens on to stdout; pass `--port 0` in
 * the command to let it pick a free port. shardline and both baselines do.
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

export async function startServerCommand(command: string, opts: { env?: NodeJS.ProcessEnv; readyTimeoutMs?: number } = {}): Promise<ServerProc> {
  const child = spawn('/bin/sh', ['-c', `exec ${command}`], { env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: Record<string, unknown>[] = [];
  let err = '';
  let buf = '';
  let onReady: ((port: number) => void) | null = null;
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (chunk: string) => {
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (!line.startsWith('{')) continue;
      try {
        const obj = JSON.parse(line) as Record<string, unknown>;
        logs.push(obj);
        if (obj.msg === 'ready' && typeof obj.port === 'number') onReady?.(obj.port);
      } catch {
        // not a JSON line: ignore
      }
    }
  });
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => (err = (err + chunk).slice(-8_000)));
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
      const timer = setTimeout(() => reject(new Error(`server did not print a ready line within ${timeoutMs} ms: ${command}\n${err}`)), timeoutMs);
      onReady = (p) => (clearTimeout(timer), resolve(p));
      void exited.then(({ code }) => (clearTimeout(timer), reject(new Error(`server exited with code ${code} before it was ready: ${command}\n${err}`))));
    });
    return { child, pid: child.pid ?? 0, port, exited, logs, stderr: () => err, kill };
  } catch (e) {
    await kill();
    throw e;
  }
}
