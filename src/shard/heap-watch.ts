/**
 * V8 ends a thread that runs out of heap from outside, and with uWS handles
 * open that aborts the whole process. So a shard whose heap stays above
 * HEAP_HIGH of its limit for two samples in a row (garbage alone rarely
 * survives that) crashes itself first: it closes its sockets and is replaced.
 */
import { getHeapStatistics } from 'node:v8';

/** Sample period, and the share of the heap limit that counts as high. */
const HEAP_CHECK_MS = 50;
const HEAP_HIGH = 0.85;

/** Starts the watch (`onSample` gets every sample, in bytes); returns a function that stops it. */
export function watchHeap(shardHeapMb: number, onHigh: (err: Error) => void, onSample?: (used: number, limit: number) => void): () => void {
  let highSamples = 0;
  const timer = setInterval(() => {
    const { used_heap_size: used, heap_size_limit: total } = getHeapStatistics();
    // heap_size_limit also counts the young generation: the configured old-space cap is the one V8 enforces.
    const configured = shardHeapMb * 1024 * 1024;
    const limit = configured > 0 ? Math.min(configured, total) : total;
    onSample?.(used, limit);
    highSamples = used > limit * HEAP_HIGH ? highSamples + 1 : 0;
    if (highSamples < 2) return;
    const mb = (n: number): number => Math.round(n / 1024 / 1024);
    onHigh(new Error(`heap at ${mb(used)} of ${mb(limit)} MiB: stopping this shard before it runs out of memory`));
  }, HEAP_CHECK_MS).unref();
  return () => clearInterval(timer);
}
