/**
 * Piscina task runner: runs the app's CPU-heavy tasks. It never touches
 * sockets. The tasks module (offload.module) is imported once per pool thread;
 * its named function exports are the tasks.
 */
import { pathToFileURL } from 'node:url';
import { move, workerData } from 'piscina';
import type { OffloadRequest, TaskFailure } from '../src/offload/protocol.js';

type Tasks = Record<string, unknown>;
let tasks: Promise<Tasks> | null = null;

function load(): Promise<Tasks> {
  tasks ??= import(pathToFileURL((workerData as { module: string }).module).href) as Promise<Tasks>;
  return tasks;
}

function isTransferable(v: unknown): v is ArrayBuffer | ArrayBufferView {
  return v instanceof ArrayBuffer || (ArrayBuffer.isView(v) && v.byteOffset === 0 && v.byteLength === v.buffer.byteLength && v.buffer instanceof ArrayBuffer);
}

export default async function run(req: OffloadRequest): Promise<unknown> {
  const mod = await load();
  if (req.kind === 'list') return Object.keys(mod).filter((k) => typeof mod[k] === 'function');
  const fn = mod[req.task];
  if (typeof fn !== 'function') {
    throw { shardlineTaskError: true, name: 'Error', message: `unknown task '${req.task}'` } satisfies TaskFailure;
  }
  let result: unknown;
  try {
    result = await (fn as (p: unknown) => unknown)(req.payload);
  } catch (err) {
    // Thrown as plain data: structured clone keeps only standard error names.
    const e = err as { name?: unknown; message?: unknown };
    throw {
      shardlineTaskError: true,
      name: typeof e?.name === 'string' ? e.name : 'Error',
      message: typeof e?.message === 'string' ? e.message : String(err),
    } satisfies TaskFailure;
  }
  // Big binary results move to the primary instead of being copied.
  return isTransferable(result) ? move(result as ArrayBuffer) : result;
}
