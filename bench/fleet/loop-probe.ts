/**
 * Preloaded into each server process of the fleet bench
 * (`node --import <this file> ...`), so the bench reads the event-loop delay
 * of the process's main thread without any change to the server: for
 * shardline that is the primary (broker, sequencer, routing between shards),
 * for Socket.IO the whole server.
 *
 * SIGWINCH: print `{"msg":"loop-probe","p50Ms","p99Ms","maxMs","utilization"}`
 * for the time since the previous SIGWINCH (or the start) and start over.
 * Worker threads (shardline's shards) are left alone.
 *
 * Why SIGWINCH: its default action is to ignore it, and no server here uses
 * it (stdout is a pipe, not a terminal). SIGUSR1 starts Node's inspector, and
 * SIGUSR2 is nodemon's restart signal, on which shardline drains.
 */
import { isMainThread } from 'node:worker_threads';
import { monitorEventLoopDelay, performance, type EventLoopUtilization } from 'node:perf_hooks';

if (isMainThread) {
  // 10 ms resolution: the sampling timer itself is a small load; finer gains nothing on a busy 2-core box.
  const RESOLUTION_MS = 10;
  const delay = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  delay.enable();
  let elu: EventLoopUtilization = performance.eventLoopUtilization();
  process.on('SIGWINCH', () => {
    // The histogram holds whole timer intervals (about RESOLUTION_MS when idle): the lag is what exceeds it.
    const ms = (ns: number): number => Math.max(0, Math.round(ns / 1e4) / 100 - RESOLUTION_MS);
    const used = performance.eventLoopUtilization(elu);
    const line = {
      msg: 'loop-probe',
      p50Ms: ms(delay.percentile(50)),
      p99Ms: ms(delay.percentile(99)),
      maxMs: ms(delay.max),
      utilization: Math.round(used.utilization * 1000) / 1000,
    };
    process.stdout.write(`${JSON.stringify(line)}\n`);
    delay.reset();
    elu = performance.eventLoopUtilization();
  });
}
