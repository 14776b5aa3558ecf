/**
 * Floods: connections opened as fast as a client can, a reconnect storm onto
 * a new server on the same port (an overlapping restart), and one client
 * sending as fast as it can, while /healthz is watched.
 * test/stress/ runs the flood at 19,000 connections.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, onTestFinished } from 'vitest';
import { connect } from './helpers/client.js';
import { startServer } from './helpers/server.js';

const FLOOD = fileURLToPath(new URL('./helpers/flood-client.mjs', import.meta.url));

/** Polls /healthz every 100 ms; stop() returns the slowest answer and the failures. */
function watchHealth(port: number): { stop(): Promise<{ polls: number; failures: number; slowestMs: number }> } {
  let polls = 0;
  let failures = 0;
  let slowestMs = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      const t = performance.now();
      try {
        const res = await fetch(`http://127.0.0.1:${port}/healthz`, { headers: { connection: 'close' }, signal: AbortSignal.timeout(2000) });
        await res.arrayBuffer();
        if (res.status !== 200) failures++;
      } catch {
        failures++;
      }
      polls++;
      slowestMs = Math.max(slowestMs, performance.now() - t);
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { polls, failures, slowestMs: Math.round(slowestMs) };
    },
  };
}

export async function floodAndReconnect(connections: number, perProcess: number, annotate: (s: string) => Promise<unknown>): Promise<void> {
  const a = await startServer(['--shards', '2', '--host', '0.0.0.0']);
  const port = a.port;
  const health = watchHealth(port);
  const groups = Array.from({ length: Math.ceil(connections / perProcess) }, (_, i) => {
    const n = Math.min(perProcess, connections - i * perProcess);
    const child = spawn(process.execPath, [FLOOD, String(port), String(n), `127.0.0.${i + 2}`]);
    onTestFinished(() => {
      child.kill('SIGKILL');
    });
    const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    return { next: async () => JSON.parse(String((await lines.next()).value)) as Record<string, number> };
  });
  const opened = await Promise.all(groups.map((g) => g.next()));
  expect(opened.reduce((s, r) => s + (r.opened ?? 0), 0)).toBe(connections);
  await annotate(`flood: ${connections} connections opened in ${Math.max(...opened.map((r) => r.ms ?? 0))} ms`);

  // An overlapping restart: the new server shares the port, then the old one drains.
  const b = await startServer(['--shards', '2', '--host', '0.0.0.0', '--port', String(port)]);
  a.signal('SIGTERM');
  expect((await a.exited).code).toBe(0);
  const back = await Promise.all(groups.map((g) => g.next()));
  expect(back.reduce((s, r) => s + (r.reconnected ?? 0), 0)).toBe(connections);
  expect(back.reduce((s, r) => s + (r.failedReconnects ?? 0), 0)).toBe(0);
  await annotate(`reconnect storm: ${connections} back on the new server in ${Math.max(...back.map((r) => r.ms ?? 0))} ms`);

  const h = await health.stop();
  expect(h.failures).toBe(0);
  expect(h.slowestMs).toBeLessThan(1000);
  await annotate(`/healthz: ${h.polls} polls, slowest ${h.slowestMs} ms`);
  b.signal('SIGTERM');
  expect((await b.exited).code).toBe(0);
}

describe('floods', () => {
  it('3,000 connections at once, then all of them reconnecting to a new server on the same port; /healthz answers throughout', async ({ annotate }) => {
    await floodAndReconnect(3_000, 3_000, annotate);
  });

  it('one client sending as fast as it can (100,000 messages): every echo arrives, /healthz keeps answering', async ({ annotate }) => {
    const server = await startServer(['--shards', '2']);
    const health = watchHealth(server.port);
    const c = await connect(server.port);
    const N = 100_000;
    let received = 0;
    const done = new Promise<void>((resolve) => c.ws.on('message', () => ++received === N && resolve()));
    const t0 = performance.now();
    for (let sent = 0; sent < N; ) {
      for (let k = 0; k < 1000; k++) c.ws.send(`m${sent++}`);
      await new Promise((r) => setImmediate(r));
    }
    await done;
    const seconds = (performance.now() - t0) / 1000;
    await annotate(`one client: ${N} round trips in ${seconds.toFixed(2)} s = ${Math.round(N / seconds)} messages/s`);
    const h = await health.stop();
    expect(h.failures).toBe(0);
    expect(h.slowestMs).toBeLessThan(1000);
    server.signal('SIGTERM');
    expect((await server.exited).code).toBe(0);
  });
});
