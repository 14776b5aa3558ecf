/**
 * The offload pool, on the primary thread: one piscina pool for the whole
 * process, which the shards reach over their MessagePorts.
 *
 * Why here and not one pool per shard: the thread count stays what the
 * operator set (offload.threads) however many shards there are, which matters
 * on small machines, and the pool's life is tied to the process drain, which
 * the primary coordinates (it closes the pool once every shard has exited, so
 * no task is terminated while its result can still be delivered). The cost is
 * one extra hop per task; bench/offload.ts measures it.
 */
import { Piscina } from 'piscina';
import { ErrorCode, ShardlineError, type WireError } from '../errors.js';
import { isTaskFailure, type OffloadRequest } from './protocol.js';

const WORKER = new URL('../../workers/offload.js', import.meta.url);

export interface OffloadConfig {
  module: string;
  threads: number;
  maxQueue: number | 'auto';
  taskTimeoutMs: number;
}

/**
 * Tasks that may wait per pool thread when `offload.maxQueue` is `auto`.
 *
 * Sized by what a waiting task costs, not by piscina's threads² (4 on 2 cores,
 * which rejected 19 of the 25 tasks of 5 clients sending 5 messages each):
 * - memory: a waiting task holds its payload, at most limits.maxPayloadBytes
 *   when it is a client's message (64 KiB by default), so 64 per thread is
 *   at most 8 MiB on 2 threads;
 * - wait: the timeout (taskTimeoutMs, 30 s) runs from submission, so the last
 *   task of a full queue waits 64 task durations: 6.4 s for a 100 ms task.
 *   Tasks longer than taskTimeoutMs / 64 (~470 ms) would time out at the back of
 *   a full queue anyway; for those, an early QUEUE_FULL is the better answer.
 */
export const QUEUE_PER_THREAD = 64;

/** The queue bound (waiting tasks, not counting the one running per thread). */
export function effectiveMaxQueue(threads: number, maxQueue: number | 'auto'): number {
  return maxQueue === 'auto' ? threads * QUEUE_PER_THREAD : maxQueue;
}

export type OffloadOutcome = { ok: true; value: unknown } | { ok: false; error: WireError };

export class OffloadPool {
  private readonly pool: Piscina<OffloadRequest, unknown>;
  private readonly config: OffloadConfig;
  private closing = false;
  /** Tasks queued or running. */
  pending = 0;
  /**
   * Admission is ours, not piscina's: piscina ignores maxQueue for tasks that
   * carry an AbortSignal (which the task timeout needs). At most one running
   * task per thread plus maxQueue waiting.
   */
  private readonly capacity: number;

  constructor(config: OffloadConfig) {
    this.config = config;
    this.capacity = config.threads + effectiveMaxQueue(config.threads, config.maxQueue);
    this.pool = new Piscina({
      filename: WORKER.href,
      minThreads: 1,
      maxThreads: config.threads,
      workerData: { module: config.module },
      // 'async' lets a pool thread's event loop run between tasks (the default
      // 'sync' freezes its handles); the cost is negligible next to CPU-heavy tasks.
      atomics: 'async',
      // The primary closes the pool only after every shard has exited: nothing is left to wait for.
      closeTimeout: 1000,
    });
  }

  /** Imports the tasks module in a pool thread and returns the names of its function exports. */
  async listTasks(): Promise<string[]> {
    let names: unknown;
    try {
      names = await this.pool.run({ kind: 'list' });
    } catch (err) {
      const msg = isTaskFailure(err) ? err.message : err instanceof Error ? `${err.name}: ${err.message}` : String(err);
      throw new ShardlineError(ErrorCode.OFFLOAD_INVALID, `offload module ${this.config.module}: failed to load: ${msg.split('\n')[0]}`);
    }
    if (!Array.isArray(names) || names.length === 0) {
      throw new ShardlineError(ErrorCode.OFFLOAD_INVALID, `offload module ${this.config.module}: exports no task functions`);
    }
    return names as string[];
  }

  async run(task: string, payload: unknown): Promise<OffloadOutcome> {
    if (this.closing) return { ok: false, error: { code: ErrorCode.OFFLOAD_SHUTTING_DOWN, message: 'the offload pool is closing' } };
    if (this.pending >= this.capacity) {
      return {
        ok: false,
        error: {
          code: ErrorCode.OFFLOAD_QUEUE_FULL,
          message: `the offload queue is full (offload.maxQueue ${effectiveMaxQueue(this.config.threads, this.config.maxQueue)})`,
        },
      };
    }
    this.pending++;
    try {
      const value = await this.pool.run({ kind: 'task', task, payload }, { signal: AbortSignal.timeout(this.config.taskTimeoutMs) });
      return { ok: true, value };
    } catch (err) {
      return { ok: false, error: this.describe(task, err) };
    } finally {
      this.pending--;
    }
  }

  private describe(task: string, err: unknown): WireError {
    if (isTaskFailure(err)) {
      return { code: ErrorCode.OFFLOAD_TASK_FAILED, message: `task '${task}' failed: ${err.message}`, name: err.name };
    }
    const e = err as { name?: string; message?: string };
    if (e?.name === 'AbortError' || e?.name === 'TimeoutError') {
      return { code: ErrorCode.OFFLOAD_TIMEOUT, message: `task '${task}' ran longer than ${this.config.taskTimeoutMs} ms` };
    }
    return { code: ErrorCode.OFFLOAD_TASK_FAILED, message: `task '${task}' failed: ${e?.message ?? String(err)}`, name: e?.name ?? 'Error' };
  }

  /** Graceful: waits for queued and running tasks. Forced: what is left is dropped. */
  async close(force: boolean): Promise<void> {
    this.closing = true;
    if (force) await this.pool.destroy();
    else await this.pool.close();
  }
}
