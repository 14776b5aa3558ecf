/**
 * The pid file and, next to it, the reload status file `<pidFile>.reload`:
 * one JSON object, rewritten (atomically, by rename) at the end of every
 * SIGHUP roll. `shardline reload` notes the time, sends SIGHUP and waits for
 * a status whose `startedAt` is not earlier: the roll its signal caused (a
 * SIGHUP during a roll is coalesced into one more roll, which starts later).
 */
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';

export interface ReloadStatus {
  pid: number;
  /** Epoch ms when the roll began (the signal was handled). */
  startedAt: number;
  /** Epoch ms when it ended. */
  finishedAt: number;
  ok: boolean;
  /** Config keys whose value changed (dotted paths). */
  changed: string[];
  /** Set when ok is false: what went wrong, one line. */
  error?: string | undefined;
  /** The generation serving after the roll. */
  generation: number;
}

export function statusFileFor(pidFile: string): string {
  return `${pidFile}.reload`;
}

export function writePidFile(pidFile: string, pid = process.pid): void {
  writeFileSync(pidFile, `${pid}\n`);
}

/** Removes the pid file and its status file, if they are still ours. */
export function removePidFile(pidFile: string, pid = process.pid): void {
  try {
    if (readPid(pidFile) !== pid) return;
  } catch {
    return;
  }
  rmSync(pidFile, { force: true });
  rmSync(statusFileFor(pidFile), { force: true });
}

/** The pid in a pid file; throws a plain Error naming the file when it holds none. */
export function readPid(pidFile: string): number {
  const text = readFileSync(pidFile, 'utf8').trim();
  if (!/^\d+$/.test(text) || Number(text) < 1) throw new Error(`${pidFile}: no pid in the file`);
  return Number(text);
}

export function writeStatus(pidFile: string, status: ReloadStatus): void {
  const file = statusFileFor(pidFile);
  writeFileSync(`${file}.tmp`, `${JSON.stringify(status)}\n`);
  renameSync(`${file}.tmp`, file);
}

/** The last status, or null when there is none (yet) or it cannot be read. */
export function readStatus(pidFile: string): ReloadStatus | null {
  try {
    return JSON.parse(readFileSync(statusFileFor(pidFile), 'utf8')) as ReloadStatus;
  } catch {
    return null;
  }
}
