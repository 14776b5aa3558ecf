/**
 * `shardline reload`: a synchronous reload for systemd's ExecReload= (whose
 * man page asks for a command that waits: `kill -HUP` returns at once).
 * Reads the pid, notes the time, sends SIGHUP, then polls the status file the
 * server rewrites at the end of every roll (src/primary/reload-status.ts)
 * until a roll that started at or after that time has finished.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorCode, ShardlineError } from '../errors.js';
import { readPid, readStatus } from '../primary/reload-status.js';

const POLL_MS = 100;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Returns the exit code: 0 reloaded, 1 the reload failed or timed out. Throws ARGS_INVALID when there is no server to reload. */
export async function reloadServer(pidFile: string, timeoutMs: number, out: (line: string) => void): Promise<number> {
  let pid: number;
  try {
    pid = readPid(pidFile);
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new ShardlineError(ErrorCode.ARGS_INVALID, `--pid-file ${pidFile}: cannot read a pid (${reason})`);
  }
  if (!alive(pid)) throw new ShardlineError(ErrorCode.ARGS_INVALID, `--pid-file ${pidFile}: no process ${pid} (the server is not running)`);
  const asked = Date.now();
  process.kill(pid, 'SIGHUP');
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    await sleep(POLL_MS);
    const status = readStatus(pidFile);
    if (status !== null && status.pid === pid && status.startedAt >= asked) {
      if (status.ok) {
        out(
          `reloaded: generation ${status.generation}, changed: ${status.changed.length > 0 ? status.changed.join(', ') : 'nothing (app module re-imported)'}`,
        );
        return 0;
      }
      out(`reload failed (the server keeps running unchanged): ${status.error ?? 'unknown error'}`);
      return 1;
    }
    if (!alive(pid)) {
      out(`the server (pid ${pid}) exited during the reload`);
      return 1;
    }
  }
  out(`no reload result within ${Math.round(timeoutMs / 1000)} s (the roll may still be running: see the server's log)`);
  return 1;
}
