/**
 * Cross-node fan-out benchmark (issue 10, "Measured"):
 *
 *   npm run build && node dist/bench/fleet-fanout.js [--quick] [--reps N] [--fanouts 1,100,1000]
 *     [--systems shardline-1node,shardline-2nodes,socketio-2nodes] [--threads 2] [--shardline PATH/dist/src/cli/main.js]
 *
 * Publish on node A, receive on node B, at 1:1, 1:100 and 1:1,000 fan-out:
 * shardline (two nodes, Redis broker) against the same on one node (memory
 * broker) and against Socket.IO with @socket.io/redis-adapter on the same
 * Redis (bench/fleet/systems.ts). Each case runs a paced phase (latency at an
 * equal offered load) and a window phase (throughput; bench/fleet/client.ts).
 * The systems alternate inside each repetition (the order rotates) and every
 * cell is the median over the repetitions. redis-server is started by the
 * bench on a free port (apt-get install redis-server).
 *
 * Writes bench/results/fleet-<date>.json (every run, medians, machine) and
 * prints the tables that docs/BENCHMARKS.md quotes.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runCase, type PhaseResult } from './fleet/client.js';
import { startRedis, type Proc } from './fleet/procs.js';
import { renderTables, type FleetResult, type Run } from './fleet/report.js';
import { SHARDLINE_MAIN, SYSTEMS, startSystem, type System, type SystemName } from './fleet/systems.js';

const { values } = parseArgs({
  args: process.argv.slice(2),
  strict: true,
  options: {
    quick: { type: 'boolean', default: false },
    reps: { type: 'string' },
    fanouts: { type: 'string' },
    systems: { type: 'string' },
    threads: { type: 'string' },
    shardline: { type: 'string' },
  },
});
const quick = values.quick === true;
const reps = Number(values.reps ?? (quick ? 1 : 3));
const fanouts = (values.fanouts ?? '1,100,1000').split(',').map(Number);
const wanted = (values.systems?.split(',') ?? SYSTEMS) as SystemName[];
for (const s of wanted) if (!SYSTEMS.includes(s)) throw new Error(`--systems: unknown system '${s}' (known: ${SYSTEMS.join(', ')})`);
const options = {
  reps,
  fanouts,
  /** Subscriber threads in the client process. */
  threads: Number(values.threads ?? '2'),
  /** Length of each phase (ms). */
  phaseMs: quick ? 2_000 : 5_000,
  /**
   * Offered load of the paced phase, in deliveries/s, the same for every system: light, so that
   * on a busy shared machine no system is saturated and the latencies compare the paths, not
   * the queues. At least 2 publications/s (1:1,000 is then 2,000 deliveries/s).
   */
  pacedDeliveriesPerSec: 300,
  pacedMinPublicationsPerSec: 2,
  /** Window phase: about this many deliveries outstanding (publications = this / fan-out, 2..256). */
  windowDeliveries: 4_000,
};
const pacedRate = (fanout: number): number => Math.max(options.pacedMinPublicationsPerSec, options.pacedDeliveriesPerSec / fanout);
const windowFor = (fanout: number): number => Math.max(2, Math.min(256, Math.ceil(options.windowDeliveries / fanout)));

async function main(): Promise<void> {
  const startedAt = new Date();
  const redis = await startRedis();
  const redisUrl = `redis://127.0.0.1:${redis.port}`;
  const systems: System[] = [];
  let started: System[] = [];
  const unavailable: Record<string, string> = {};
  const stopAll = async (): Promise<void> => {
    for (const s of systems.splice(0)) await s.stop(); // idempotent: SIGINT and finally may both call it
    await redis.stop();
  };
  process.once('SIGINT', () => void stopAll().finally(() => process.exit(130)));
  const runs: Run[] = [];
  try {
    for (const name of wanted) {
      try {
        systems.push(await startSystem(name, redisUrl, values.shardline ?? SHARDLINE_MAIN));
      } catch (err) {
        // e.g. a build without the Redis broker: measure the others and say so.
        unavailable[name] =
          String(err)
            .split('\n')
            .find((l) => l.includes('shardline:') || l.includes('Error')) ?? String(err);
        process.stderr.write(`fleet-fanout: ${name} unavailable: ${unavailable[name]}\n`);
      }
    }
    started = [...systems];
    // One untimed case per system first: JIT and connection pools warm, for every system alike.
    for (const system of systems) await caseOf(system, redis, 100, `warmup.${system.name}`, Math.min(options.phaseMs, 1_000));
    for (let rep = 0; rep < reps; rep++) {
      for (const fanout of fanouts) {
        const order = systems.map((_, i) => systems[(i + rep + fanouts.indexOf(fanout)) % systems.length] as System);
        for (const system of order) {
          const topic = `bench.${rep}.${fanout}.${system.name}`;
          const r = await caseOf(system, redis, fanout, topic, options.phaseMs);
          runs.push({ rep, fanout, system: system.name, ...r });
          const w = r.window;
          process.stderr.write(
            `rep ${rep + 1}/${reps} 1:${fanout} ${system.name}: paced p99 ${r.paced.p99Ms.toFixed(1)} ms; ` +
              `window ${Math.round(w.deliveriesPerSec)} deliveries/s p99 ${w.p99Ms.toFixed(1)} ms, busiest client thread CPU ${(w.clientThreadCpuMax * 100).toFixed(0)}% (loop ${(w.clientLoopMax * 100).toFixed(0)}%), lost ${r.paced.lost + w.lost}, out of order ${r.paced.outOfOrder + w.outOfOrder}\n`,
          );
        }
      }
    }
  } finally {
    await stopAll();
  }
  const result: FleetResult = {
    startedAt: startedAt.toISOString(),
    seconds: Math.round((Date.now() - startedAt.getTime()) / 1000),
    node: process.version,
    cpu: `${cpus()[0]?.model ?? '?'} x ${cpus().length}`,
    loadAverage: loadavg(),
    shardline: values.shardline ?? SHARDLINE_MAIN,
    options: {
      ...options,
      pacedPublicationsPerSec: Object.fromEntries(fanouts.map((f) => [f, pacedRate(f)])),
      windows: Object.fromEntries(fanouts.map((f) => [f, windowFor(f)])),
      quick,
    },
    unavailable,
    // Each shardline node's `stopped` line: its broker counters (publishes failed, deliveries dropped) explain a loss.
    stopped: started.flatMap((s) =>
      s.nodes
        .filter((n) => n.name.startsWith('shardline'))
        .map((n) => ({ system: s.name, node: n.name, line: n.logs.find((l) => l.msg === 'stopped') ?? null })),
    ),
    runs,
  };
  const dir = fileURLToPath(new URL('../../bench/results/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  const file = `${dir}fleet-${startedAt.toISOString().slice(0, 16).replace(/:/g, '-')}.json`;
  writeFileSync(file, `${JSON.stringify(result, null, 1)}\n`);
  process.stdout.write(`${renderTables(result)}\nraw data: ${file}\n`);
}

function caseOf(system: System, redis: Proc, fanout: number, topic: string, phaseMs: number): Promise<{ paced: PhaseResult; window: PhaseResult }> {
  return runCase({ system, redis, fanout, topic, threads: options.threads, pacedPublicationsPerSec: pacedRate(fanout), window: windowFor(fanout), phaseMs });
}

await main();
