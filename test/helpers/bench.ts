/** Runs `shardline bench ...` as a child process, as a user would. */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { onTestFinished } from 'vitest';
import { CLI, ROOT } from './server.js';

export interface BenchRun {
  child: ChildProcessWithoutNullStreams;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (128 + signal number when killed by one). */
  exited: Promise<number>;
}

export function spawnBench(args: string[]): BenchRun {
  const child = spawn(process.execPath, [CLI, 'bench', ...args], { cwd: ROOT });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
  const exited = once(child, 'exit').then(([code, signal]) => (typeof code === 'number' ? code : signal === 'SIGKILL' ? 137 : -1));
  onTestFinished(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  });
  return { child, stdout: () => out, stderr: () => err, exited };
}

/** Runs `shardline bench <args> --json`; resolves with the exit code and the parsed last line of stdout. */
export async function benchJson<R>(args: string[]): Promise<{ code: number; report: R; stdout: string; stderr: string }> {
  const run = spawnBench([...args, '--json']);
  const code = await run.exited;
  const last = run.stdout().trim().split('\n').pop() ?? '';
  try {
    return { code, report: JSON.parse(last) as R, stdout: run.stdout(), stderr: run.stderr() };
  } catch {
    throw new Error(`bench printed no JSON (exit ${code}); stdout: ${run.stdout()}; stderr: ${run.stderr()}`);
  }
}
