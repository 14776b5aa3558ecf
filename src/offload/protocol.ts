/** What the primary asks of a pool thread (workers/offload.ts). */
export type OffloadRequest = { kind: 'list' } | { kind: 'task'; task: string; payload: unknown };

/** What a pool thread throws when the task failed: plain data, so the task's error name survives the clone. */
export interface TaskFailure {
  shardlineTaskError: true;
  name: string;
  message: string;
}

export function isTaskFailure(v: unknown): v is TaskFailure {
  return typeof v === 'object' && v !== null && (v as TaskFailure).shardlineTaskError === true;
}
