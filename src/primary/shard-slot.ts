/**
 * One shard thread as the primary sees it. A shard number (0..shards-1) is
 * held by one `current` thread; during a SIGHUP roll an `incoming` thread of
 * the next generation starts beside it and the old one becomes `retiring`.
 */
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import type { ResolvedConfig } from '../config.js';
import type { MetricsInit } from '../metrics/layout.js';
import type { DrainReport, ShardInit, ToShard } from '../protocol.js';

const SHARD_ENTRY = new URL('../../workers/shard.js', import.meta.url);

export type ShardRole = 'current' | 'incoming' | 'retiring';

export interface ShardSlot {
  id: number;
  /** Heartbeat slot in the shared state (src/primary/slots.ts). */
  heartbeat: number;
  generation: number;
  role: ShardRole;
  worker: Worker;
  port: MessagePort;
  loaded: boolean;
  listening: boolean;
  report: DrainReport | null;
  exited: boolean;
  /** Set when the shard reported a crash: its exit is followed by a restart. */
  crashed: boolean;
  /** When its drain report arrived (performance.now()), 0 before. */
  reportedAt: number;
  /** Its metrics slot (retired when the thread exits). */
  metrics: MetricsInit;
}

/** Starts a shard thread and hands it its own port; the caller wires the events. */
export function startShardThread(init: ShardInit, config: ResolvedConfig, role: ShardRole): ShardSlot {
  const heapMb = config.limits.shardHeapMb;
  const worker = new Worker(SHARD_ENTRY, {
    workerData: init,
    name: `shard-${init.shard}`,
    ...(heapMb > 0 ? { resourceLimits: { maxOldGenerationSizeMb: heapMb } } : {}),
  });
  const { port1, port2 } = new MessageChannel();
  worker.postMessage({ type: 'init', port: port2 } satisfies ToShard, [port2]);
  return {
    id: init.shard,
    heartbeat: init.heartbeat,
    generation: init.generation,
    role,
    worker,
    port: port1,
    loaded: false,
    listening: false,
    report: null,
    exited: false,
    crashed: false,
    reportedAt: 0,
    metrics: init.metrics,
  };
}
