/**
 * The shard's side of offload(): it sends a task to the primary's pool over
 * the shard's port and settles the promise when the result comes back.
 */
import type { TransferListItem } from 'node:worker_threads';
import type { OffloadOptions } from '../app.js';
import { ErrorCode, OffloadError, type WireError } from '../errors.js';
import type { FromShard } from '../protocol.js';

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: OffloadError) => void;
}

export function offloadError(error: WireError): OffloadError {
  return new OffloadError(error.code as ErrorCode, error.message, error.name);
}

export class OffloadClient {
  /** Task names the tasks module exports; null while offloading is not configured. */
  tasks: Set<string> | null = null;
  /** Once set, every new call is refused: the shard has stopped. */
  stopped = false;
  private nextId = 0;
  private readonly pending = new Map<number, Pending>();
  private readonly shard: number;
  private readonly post: (msg: FromShard, transfer?: TransferListItem[]) => void;

  constructor(shard: number, post: (msg: FromShard, transfer?: TransferListItem[]) => void) {
    this.shard = shard;
    this.post = post;
  }

  get size(): number {
    return this.pending.size;
  }

  run(task: string, payload: unknown, opts: OffloadOptions = {}): Promise<unknown> {
    if (this.stopped) return Promise.reject(new OffloadError(ErrorCode.OFFLOAD_SHUTTING_DOWN, 'the shard is shutting down'));
    if (this.tasks === null) return Promise.reject(new OffloadError(ErrorCode.OFFLOAD_NOT_CONFIGURED, 'no offload.module is configured'));
    if (!this.tasks.has(task)) {
      return Promise.reject(new OffloadError(ErrorCode.OFFLOAD_UNKNOWN_TASK, `unknown task '${task}' (tasks: ${[...this.tasks].join(', ')})`));
    }
    const id = ++this.nextId;
    try {
      this.post({ type: 'offload', shard: this.shard, id, task, payload }, opts.transfer);
    } catch (err) {
      return Promise.reject(
        new OffloadError(ErrorCode.OFFLOAD_NOT_CLONEABLE, `the payload of task '${task}' cannot be sent to the pool: ${(err as Error).message}`),
      );
    }
    return new Promise((resolve, reject) => this.pending.set(id, { resolve, reject }));
  }

  settle(id: number, outcome: { ok: true; value: unknown } | { ok: false; error: WireError }): void {
    const p = this.pending.get(id);
    if (p === undefined) return; // abandoned by a forced drain
    this.pending.delete(id);
    if (outcome.ok) p.resolve(outcome.value);
    else p.reject(offloadError(outcome.error));
  }

  /** Forced drain: every pending call rejects (its result could no longer reach a socket). Returns how many. */
  abandonAll(): number {
    const n = this.pending.size;
    for (const p of this.pending.values()) p.reject(new OffloadError(ErrorCode.OFFLOAD_SHUTTING_DOWN, 'abandoned by a forced drain'));
    this.pending.clear();
    this.stopped = true;
    return n;
  }
}
