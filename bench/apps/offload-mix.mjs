// Benchmark app for bench/offload.ts. BENCH_MODE picks where heavy work runs:
//   inline   the shard thread spins itself (what offloading avoids)
//   offload  conn.offload() to the primary's pool (shardline's design)
//   local    a piscina pool owned by this shard thread (the alternative placement)
// Messages: "e:<n>" echo at once; "h:<n>" HEAVY_MS of CPU work, then echo; "n:<n>" a no-op task, then echo.
import { Piscina } from 'piscina';

const mode = process.env.BENCH_MODE ?? 'offload';
const heavyMs = Number(process.env.HEAVY_MS ?? 20);
const tasks = new URL('./tasks.mjs', import.meta.url).pathname;
const local =
  mode === 'local'
    ? new Piscina({
        filename: new URL('../../dist/workers/offload.js', import.meta.url).href,
        workerData: { module: tasks },
        maxThreads: Number(process.env.BENCH_THREADS ?? 2),
        atomics: 'async',
      })
    : null;

function spin(ms) {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

function task(conn, name, payload) {
  return local !== null ? local.run({ kind: 'task', task: name, payload }) : conn.offload(name, payload);
}

export default {
  async message(conn, data) {
    const text = data.toString();
    const kind = text[0];
    if (kind === 'h') {
      if (mode === 'inline') spin(heavyMs);
      else await task(conn, 'spin', { ms: heavyMs });
    } else if (kind === 'n') {
      await task(conn, 'noop', null);
    }
    conn.send(text);
  },
  async stop() {
    await local?.close();
  },
};
