/**
 * A rolling deploy of a fleet, end to end: a real HAProxy in front of two
 * shardline nodes sharing one real Redis; 1,000 shardline/client instances (in
 * 4 processes) subscribed to one history topic through HAProxy while 50
 * publications/s go in, half through a shardline/client publisher (through
 * HAProxy too) and half through the nodes' HTTP publish API. Node A is drained
 * (SIGTERM) and restarted on its ports, then node B.
 *
 * Holds: every client receives every publication exactly once and in offset
 * order; every publish settles as applied; no client ends disconnected; no
 * client was told recovered:false. Prints: the time until every client was
 * back after each drain, the peak reconnect rate on the surviving node, and
 * the p99 delivery latency before, during and after the roll.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { describe, expect, it, onTestFinished } from 'vitest';
import { createClient, type PublishResult } from '../../src/client/index.js';
import { startHaproxy } from '../helpers/haproxy.js';
import { createServer } from 'node:net';
import { startRedis } from '../helpers/redis.js';
import { configFile, runCli, type ServerProcess } from '../helpers/server.js';

const CLIENTS = Number(process.env.ROLL_CLIENTS ?? 1000);
const PROCESSES = 4;
const RATE = 50; // publications per second in all
const TOPIC = 'deploy.news';
const API_KEY = 'rolling-deploy-test-key-0123456789abcdef';
const CHILD = fileURLToPath(new URL('../helpers/fleet-clients.mjs', import.meta.url));

interface Report {
  clients: number;
  connected: number;
  received: number[];
  last: number[];
  duplicates: number;
  gaps: number;
  recoveredFalse: number;
  errors: number;
  outages: number[];
  reconnects: number[];
  codes: Record<string, number>;
  stragglers: string[];
  latency: Record<'quiet' | 'roll' | 'after', number[]>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const t0 = Date.now();
const step = (what: string): void => console.log(`[rolling-deploy +${((Date.now() - t0) / 1000).toFixed(1)} s] ${what}`);

/**
 * A free port below the kernel's ephemeral range (32768+ here): the nodes
 * restart on their ports, and the thousands of outgoing connections of the
 * test would otherwise take a port from that range between a node's exit and
 * its restart.
 */
async function freeFixedPort(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const ok = await new Promise<boolean>((resolve) => {
      const srv = createServer();
      srv.once('error', () => resolve(false));
      srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
    });
    if (ok) return port;
  }
}

function percentile(buckets: number[], p: number): number {
  const total = buckets.reduce((a, b) => a + b, 0);
  let seen = 0;
  for (let i = 0; i < buckets.length; i++) {
    seen += buckets[i]!;
    if (seen >= total * p) return i;
  }
  return buckets.length;
}

describe('rolling deploy of a fleet', () => {
  it(`${CLIENTS} clients through HAProxy, two nodes on Redis, A then B drained and restarted: nothing lost, nothing twice`, async () => {
    const redis = await startRedis();
    onTestFinished(() => redis.stop());
    const ports = {
      a: await freeFixedPort(),
      b: await freeFixedPort(),
      apiA: await freeFixedPort(),
      apiB: await freeFixedPort(),
      front: await freeFixedPort(),
    };
    const nodeConfig = (name: 'a' | 'b'): string =>
      configFile({
        port: name === 'a' ? ports.a : ports.b,
        host: '127.0.0.1',
        shards: 1,
        nodeId: `node-${name}`,
        broker: { type: 'redis', url: redis.url },
        history: [{ match: 'deploy.*', size: 10_000, ttlSec: 600 }],
        api: { port: name === 'a' ? ports.apiA : ports.apiB, host: '127.0.0.1', keys: [API_KEY] },
        // HAProxy checks /readyz every 300 ms: 1.5 s of 503 before the listener closes.
        drain: { delayMs: 1_500, timeoutMs: 20_000 },
      });
    const cfg = { a: nodeConfig('a'), b: nodeConfig('b') };
    // runCli, not startServer: that one adds --port 0, and a node must come back on its port.
    // A loaded 2-core machine can take more than runCli's 15 s to bring a node up.
    const startNode = async (name: 'a' | 'b'): Promise<ServerProcess> => {
      const proc = await runCli(['start', '--config', cfg[name]], { waitReady: false });
      proc.port = (await proc.waitForLog((l) => l.msg === 'ready', 60_000)).port as number;
      return proc;
    };
    const nodes: Record<'a' | 'b', ServerProcess> = { a: await startNode('a'), b: await startNode('b') };
    const haproxy = await startHaproxy(ports.front, [
      { name: 'a', port: ports.a },
      { name: 'b', port: ports.b },
    ]);
    await haproxy.waitStatus(['a', 'b'], 'UP');
    const url = `ws://127.0.0.1:${haproxy.port}/`;

    // Subscribers: 4 processes of 250 clients.
    const children: ChildProcess[] = [];
    for (let i = 0; i < PROCESSES; i++) {
      const n = Math.floor(CLIENTS / PROCESSES) + (i < CLIENTS % PROCESSES ? 1 : 0);
      const child = fork(CHILD, [url, String(n), TOPIC], { stdio: 'inherit' });
      onTestFinished(() => {
        if (child.exitCode === null) child.kill('SIGKILL');
      });
      children.push(child);
    }
    step('nodes and HAProxy up; opening the clients');
    await Promise.all(children.map((c) => once(c, 'message')));
    step(`${CLIENTS} clients connected and subscribed`);
    const broadcast = (msg: unknown): void => children.forEach((c) => c.send(msg as object));
    const report = async (): Promise<Report[]> => {
      const replies = children.map((c) => new Promise<Report>((resolve) => c.once('message', (m: Report) => resolve(m))));
      broadcast({ type: 'report' });
      return Promise.all(replies);
    };

    // Publishers: a shardline/client through HAProxy, and the HTTP API of whichever node answers.
    const publisher = createClient(url, { WebSocket, network: null });
    onTestFinished(() => publisher.close());
    const clientPublishes: Promise<PublishResult>[] = [];
    const apiPublishes: Promise<number>[] = [];
    let apiNode: 'a' | 'b' = 'a';
    let seq = 0;
    const apiPublish = async (key: string, data: unknown): Promise<number> => {
      for (let attempt = 0; attempt < 200; attempt++) {
        const port = apiNode === 'a' ? ports.apiA : ports.apiB;
        try {
          const res = await fetch(`http://127.0.0.1:${port}/api/publish`, {
            method: 'POST',
            headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json', connection: 'close' },
            body: JSON.stringify({ topic: TOPIC, data, key }),
          });
          const body = (await res.json()) as { ok?: boolean; offset?: number };
          if (res.ok && typeof body.offset === 'number') return body.offset;
        } catch {
          // that node is down: the same key on the other one publishes once
        }
        apiNode = apiNode === 'a' ? 'b' : 'a';
        await sleep(50);
      }
      throw new Error(`HTTP publish ${key} never applied`);
    };
    const timer = setInterval(() => {
      const i = seq++;
      const data = { t: Date.now(), i };
      const p = i % 2 === 0 ? publisher.publish(TOPIC, data) : apiPublish(`api-${i}`, data);
      p.catch(() => {}); // awaited below; a failed test must not leave unhandled rejections
      if (i % 2 === 0) clientPublishes.push(p as Promise<PublishResult>);
      else apiPublishes.push(p as Promise<number>);
    }, 1_000 / RATE);
    onTestFinished(() => clearInterval(timer));

    await sleep(5_000); // the quiet run
    step('quiet run done; rolling');
    broadcast({ type: 'phase', phase: 'roll' });
    const rollStart = Date.now();
    const backAfter: Record<string, number> = {};
    const exitCodes: Record<string, number> = {};
    for (const name of ['a', 'b'] as const) {
      const other = name === 'a' ? 'b' : 'a';
      apiNode = other;
      const before = await report();
      const outagesBefore = before.reduce((a, r) => a + r.outages.length, 0);
      const signalledAt = Date.now();
      nodes[name].signal('SIGTERM');
      step(`SIGTERM to ${name}`);
      exitCodes[name] = (await nodes[name].exited).code; // asserted at the end, after the figures
      step(`${name} exited with ${exitCodes[name]}`);
      // Every client that was on this node is back (on the other one) once the outages count settles.
      const onNode = await (async (): Promise<number> => {
        for (;;) {
          const r = await report();
          const connected = r.reduce((a, x) => a + x.connected, 0);
          if (connected === CLIENTS) return r.reduce((a, x) => a + x.outages.length, 0) - outagesBefore;
          if (Date.now() - signalledAt > 60_000)
            throw new Error(`clients not back: ${connected} of ${CLIENTS}; some of the others: ${JSON.stringify(r.flatMap((x) => x.stragglers).slice(0, 20))}`);
          await sleep(100);
        }
      })();
      backAfter[name] = Date.now() - signalledAt;
      console.log(`drain of ${name}: ${onNode} clients moved, all ${CLIENTS} connected ${backAfter[name]} ms after SIGTERM`);
      nodes[name] = await startNode(name);
      await haproxy.waitStatus([name], 'UP');
      step(`${name} restarted and UP`);
    }
    const rollEnd = Date.now();
    broadcast({ type: 'phase', phase: 'after' });
    await sleep(3_000);
    clearInterval(timer);

    step('publishing stopped; waiting for the publishes to settle');
    const clientResults = await Promise.all(clientPublishes);
    const apiOffsets = await Promise.all(apiPublishes);
    const offsets = [...clientResults.map((r) => r.offset ?? -1), ...apiOffsets];
    const published = offsets.length;
    // Offsets are unique and contiguous: no publish was applied twice.
    expect(new Set(offsets).size).toBe(published);
    expect(Math.max(...offsets)).toBe(published);

    // Every client gets every publication, once, in order.
    let final: Report[] = [];
    const waitStart = Date.now();
    for (;;) {
      final = await report();
      if (final.every((r) => r.received.every((n) => n >= published))) break;
      if (Date.now() - waitStart > 60_000) break;
      await sleep(200);
    }
    const received = final.flatMap((r) => r.received);
    const short = received.filter((n) => n !== published).length;
    const totals = {
      duplicates: final.reduce((a, r) => a + r.duplicates, 0),
      gaps: final.reduce((a, r) => a + r.gaps, 0),
      recoveredFalse: final.reduce((a, r) => a + r.recoveredFalse, 0),
      connected: final.reduce((a, r) => a + r.connected, 0),
      errors: final.reduce((a, r) => a + r.errors, 0),
    };
    const codes: Record<string, number> = {};
    for (const r of final) for (const [c, n] of Object.entries(r.codes)) codes[c] = (codes[c] ?? 0) + n;
    const merge = (phase: 'quiet' | 'roll' | 'after'): number[] =>
      final.reduce((acc, r) => acc.map((v, i) => v + r.latency[phase][i]!), new Array(30_000).fill(0) as number[]);
    const p99 = { quiet: percentile(merge('quiet'), 0.99), roll: percentile(merge('roll'), 0.99), after: percentile(merge('after'), 0.99) };
    // Reconnect rate on the surviving node: client-side connected events per 100 ms window during the roll.
    const bins = new Map<number, number>();
    for (const t of final.flatMap((r) => r.reconnects))
      if (t >= rollStart && t <= rollEnd) bins.set(Math.floor(t / 100), (bins.get(Math.floor(t / 100)) ?? 0) + 1);
    const peakPerSec = Math.max(0, ...bins.values()) * 10;
    const outages = final.flatMap((r) => r.outages).sort((x, y) => x - y);
    console.log(
      JSON.stringify({
        clients: CLIENTS,
        published,
        ratePerSec: RATE,
        deliveriesExpected: published * CLIENTS,
        clientsShort: short,
        ...totals,
        closeCodes: codes,
        allBackAfterSigtermMs: backAfter,
        drainExitCodes: exitCodes,
        outageMs: { p50: outages[Math.floor(outages.length * 0.5)], p99: outages[Math.floor(outages.length * 0.99)], max: outages.at(-1) },
        peakReconnectsPerSec: peakPerSec,
        p99LatencyMs: p99,
      }),
    );
    expect(short).toBe(0);
    expect(totals.duplicates).toBe(0);
    expect(totals.gaps).toBe(0);
    expect(totals.recoveredFalse).toBe(0);
    expect(totals.connected).toBe(CLIENTS);
    expect(exitCodes).toEqual({ a: 0, b: 0 }); // both drains finished within drain.timeoutMs
    broadcast({ type: 'close' });
    await Promise.all(children.map((c) => (c.exitCode === null ? once(c, 'exit') : undefined)));
  });
});
