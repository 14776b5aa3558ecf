/**
 * One case of the fleet bench: a system, a fan-out N, one publisher.
 *
 *   main thread: publisher (one connection to node A) and the clock
 *   T subscriber threads: N connections to node B, split evenly
 *
 * Two phases, each measured on its own (latency is send -> receive, taken
 * from `sentAt` in the payload; every thread and process reads one clock):
 *   paced   a fixed offered load in deliveries/s, the same for every system,
 *           so the latencies compare at equal load;
 *   window  closed loop: at most W publications not yet received by every
 *           subscriber; the throughput is what the system sustains, and the
 *           latency is the one at that load (about W / rate, Little's law).
 * Around each phase: CPU of every server process, the main thread of each
 * node (shardline's primary), redis-server and this client, and each node's
 * event-loop delay (loop-probe.ts).
 */
import * as hdr from 'hdr-histogram-js';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { io } from 'socket.io-client';
import WebSocket from 'ws';
import { epochNow, HISTOGRAM, type FromSubscribers, type Payload, type PhaseReport, type ToSubscribers } from './messages.js';
import { mainThreadCpuMs, processCpuMs, readLoopProbe, threadCpuMs, type Proc } from './procs.js';
import type { System } from './systems.js';

export interface CaseSpec {
  system: System;
  redis: Proc;
  fanout: number;
  topic: string;
  threads: number;
  /** Paced phase: offered publications per second. */
  pacedPublicationsPerSec: number;
  /** Window phase: publications not yet received everywhere, at most. */
  window: number;
  phaseMs: number;
}

export interface PhaseResult {
  publications: number;
  deliveries: number;
  lost: number;
  closedEarly: number;
  outOfOrder: number;
  /** From the first send to the last publication received by every subscriber. */
  durationMs: number;
  deliveriesPerSec: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Server CPU (every node + redis-server when used) per 1,000 deliveries, ms. */
  serverCpuPerKDeliveriesMs: number;
  /** CPU of each node's main thread (shardline: the primary) as a share of one core. */
  nodeMainThreadCores: number[];
  redisCores: number;
  /** Event-loop delay of each node's main thread. */
  nodeLoops: { p50Ms: number; p99Ms: number; maxMs: number; utilization: number }[];
  /** Busiest client thread (publisher or a subscriber thread): its CPU as a share of one core (near 1 = client-bound)... */
  clientThreadCpuMax: number;
  /** ...and its event-loop utilization (which also counts time the OS ran other work: high with a low CPU share = starved, not bound). */
  clientLoopMax: number;
  clientCores: number;
}

type Publish = (p: Payload) => void;

/** FLEET_VERBOSE=1: say each step on stderr (to see where a case waits). */
const step = (what: string): void => {
  if (process.env.FLEET_VERBOSE === '1') process.stderr.write(`  ${new Date().toISOString().slice(11, 23)} ${what}\n`);
};

async function publisher(system: System, topic: string): Promise<{ publish: Publish; close: () => void }> {
  if (system.kind === 'shardline') {
    const ws = new WebSocket(system.pubUrl, ['shardline.v1'], { perMessageDeflate: false });
    await new Promise((resolve, reject) => (ws.once('open', resolve), ws.once('error', reject)));
    // No id: the server publishes and echoes the command back (the echo is ignored).
    const head = `{"publish":${JSON.stringify(topic)},"data":`;
    return { publish: (p) => ws.send(`${head}${JSON.stringify(p)}}`), close: () => ws.close() };
  }
  const socket = io(system.pubUrl, { transports: ['websocket'], forceNew: true, reconnection: false });
  await new Promise((resolve, reject) => (socket.once('connect', () => resolve(undefined)), socket.once('connect_error', reject)));
  return { publish: (p) => socket.emit('publish', topic, p), close: () => socket.disconnect() };
}

class Subscribers {
  private readonly workers: Worker[] = [];
  readonly watermarks: number[] = [];
  private waiters: (() => void)[] = [];
  private readonly inbox: FromSubscribers[][] = [];
  lastAdvanceAt = 0;

  constructor(threads: number) {
    for (let i = 0; i < threads; i++) {
      const w = new Worker(new URL('./subscriber-worker.js', import.meta.url));
      this.workers.push(w);
      this.watermarks.push(0);
      this.inbox.push([]);
      w.on('message', (msg: FromSubscribers) => this.onMessage(i, msg));
      w.on('error', (err) => process.stderr.write(`fleet-fanout: subscriber thread ${i}: ${err.message}\n`));
    }
  }

  private onMessage(i: number, msg: FromSubscribers): void {
    if (msg.type === 'progress') {
      const before = this.watermark();
      this.watermarks[i] = msg.watermark;
      if (this.watermark() > before) this.lastAdvanceAt = epochNow();
    } else if (msg.type === 'error') {
      process.stderr.write(`fleet-fanout: subscriber thread ${i}: ${msg.message}\n`);
    }
    if (msg.type !== 'progress') this.inbox[i]?.push(msg); // progress is only ever read as the watermark
    const w = this.waiters;
    this.waiters = [];
    for (const wake of w) wake();
  }

  watermark(): number {
    return Math.min(...this.watermarks);
  }

  /** Resolves at the next message from any thread (or after `ms`). */
  changed(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      this.waiters.push(() => (clearTimeout(t), resolve()));
    });
  }

  send(msg: ToSubscribers): void {
    for (const w of this.workers) w.postMessage(msg);
  }

  sendTo(thread: number, msg: ToSubscribers): void {
    this.workers[thread]?.postMessage(msg);
  }

  /** Waits for one message of `type` from every thread, returns them in thread order. */
  async collect<T extends FromSubscribers['type']>(type: T, timeoutMs: number): Promise<Extract<FromSubscribers, { type: T }>[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.inbox.map((box) => box.find((m) => m.type === type));
      if (found.every((m) => m !== undefined)) {
        this.inbox.forEach((box, i) => box.splice(box.indexOf(found[i] as FromSubscribers), 1));
        return found as Extract<FromSubscribers, { type: T }>[];
      }
      if (Date.now() > deadline) throw new Error(`subscriber threads: no '${type}' within ${timeoutMs} ms`);
      await this.changed(50);
    }
  }

  async close(): Promise<void> {
    this.send({ type: 'close' });
    await this.collect('closed', 10_000).catch(() => undefined);
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

export async function runCase(spec: CaseSpec): Promise<{ paced: PhaseResult; window: PhaseResult }> {
  const threads = Math.max(1, Math.min(spec.threads, spec.fanout));
  const subs = new Subscribers(threads);
  const pub = await publisher(spec.system, spec.topic);
  let seq = 0;
  try {
    for (let i = 0; i < threads; i++) {
      const count = Math.floor(spec.fanout / threads) + (i < spec.fanout % threads ? 1 : 0);
      subs.sendTo(i, { type: 'connect', kind: spec.system.kind, url: spec.system.subUrl, topic: spec.topic, count });
    }
    step(`${spec.system.name} 1:${spec.fanout}: connecting`);
    const connected = await subs.collect('connected', 60_000);
    const failed = connected.reduce((n, c) => n + c.failed, 0);
    if (failed > 0) throw new Error(`${failed} of ${spec.fanout} subscribers could not connect`);
    step('warming up');
    // Warm-up: a node may take a moment to subscribe at the broker; publish until every subscriber got one.
    const warm = subs.collect('warm', 20_000);
    let settled = false;
    void warm.then(
      () => (settled = true),
      () => (settled = true),
    );
    while (!settled) {
      pub.publish({ seq: 0, sentAt: epochNow(), warm: true });
      await Promise.race([warm.catch(() => undefined), sleep(100)]);
    }
    await warm; // throws if some subscriber never got a publication
    await sleep(200);

    const phase = async (mode: 'paced' | 'window'): Promise<PhaseResult> => {
      step(`phase ${mode}`);
      const firstSeq = seq + 1;
      subs.send({ type: 'phase-start', firstSeq });
      await subs.collect('started', 10_000);
      for (const n of spec.system.nodes) await readLoopProbe(n); // start the nodes' loop figures over
      const isRedis = spec.system.nodes.length > 1;
      const cpu0 = spec.system.nodes.map((n) => processCpuMs(n.pid));
      const main0 = spec.system.nodes.map((n) => mainThreadCpuMs(n.pid));
      const redis0 = isRedis ? processCpuMs(spec.redis.pid) : 0;
      const client0 = process.cpuUsage();
      const elu0 = performance.eventLoopUtilization();
      const thread0 = threadCpuMs();
      const t0 = epochNow();
      const ratePerMs = spec.pacedPublicationsPerSec / 1000;
      while (epochNow() - t0 < spec.phaseMs) {
        if (mode === 'paced') {
          const due = Math.floor((epochNow() - t0) * ratePerMs) + 1;
          while (seq - firstSeq + 1 < due) pub.publish({ seq: ++seq, sentAt: epochNow() });
          await sleep(1);
        } else {
          while (seq - subs.watermark() < spec.window) pub.publish({ seq: ++seq, sentAt: epochNow() });
          await subs.changed(5);
        }
      }
      const lastSeq = seq;
      step(`phase ${mode}: draining`);
      const drainDeadline = epochNow() + 10_000;
      while (subs.watermark() < lastSeq && epochNow() < drainDeadline) await subs.changed(100);
      const done = subs.watermark() >= lastSeq ? subs.lastAdvanceAt : epochNow();
      const wallMs = done - t0;
      const clientCpu = process.cpuUsage(client0);
      const mainElu = performance.eventLoopUtilization(elu0).utilization;
      const mainCpuShare = (threadCpuMs() - thread0) / (epochNow() - t0);
      const cpu = spec.system.nodes.map((n, i) => processCpuMs(n.pid) - (cpu0[i] as number));
      const mains = spec.system.nodes.map((n, i) => mainThreadCpuMs(n.pid) - (main0[i] as number));
      const redisCpu = isRedis ? processCpuMs(spec.redis.pid) - redis0 : 0;
      const loops = [];
      for (const n of spec.system.nodes) loops.push(await readLoopProbe(n));
      subs.send({ type: 'phase-end' });
      const reports: PhaseReport[] = (await subs.collect('phase-report', 10_000)).map((r) => r.report);
      const h = hdr.build(HISTOGRAM);
      for (const r of reports) h.add(hdr.decodeFromCompressedBase64(r.histogram));
      const deliveries = reports.reduce((n, r) => n + r.received, 0);
      const publications = lastSeq - firstSeq + 1;
      return {
        publications,
        deliveries,
        lost: publications * spec.fanout - deliveries,
        closedEarly: reports.reduce((n, r) => n + r.closedEarly, 0),
        outOfOrder: reports.reduce((n, r) => n + r.outOfOrder, 0),
        durationMs: wallMs,
        deliveriesPerSec: (deliveries / wallMs) * 1000,
        p50Ms: h.getValueAtPercentile(50) / 1000,
        p99Ms: h.getValueAtPercentile(99) / 1000,
        maxMs: h.maxValue / 1000,
        serverCpuPerKDeliveriesMs: ((cpu.reduce((a, b) => a + b, 0) + redisCpu) / deliveries) * 1000,
        nodeMainThreadCores: mains.map((ms) => ms / wallMs),
        redisCores: redisCpu / wallMs,
        nodeLoops: loops.map((l) => ({ p50Ms: num(l?.p50Ms), p99Ms: num(l?.p99Ms), maxMs: num(l?.maxMs), utilization: num(l?.utilization) })),
        clientThreadCpuMax: Math.max(mainCpuShare, ...reports.map((r) => r.cpuShare)),
        clientLoopMax: Math.max(mainElu, ...reports.map((r) => r.loopUtilization)),
        clientCores: (clientCpu.user + clientCpu.system) / 1000 / wallMs,
      };
    };
    const paced = await phase('paced');
    const window = await phase('window');
    return { paced, window };
  } finally {
    pub.close();
    await subs.close();
  }
}

const num = (v: unknown): number => (typeof v === 'number' ? v : NaN);
