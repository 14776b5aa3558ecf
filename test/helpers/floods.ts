/** Connection floods and reconnect storms, with /healthz watched (test/flood.test.ts, test/stress/). */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { expect, onTestFinished } from 'vitest';
import { startServer } from './server.js';

const FLOOD = fileURLToPath(new URL('./flood-client.mjs', import.meta.url));

/** Polls /healthz every 100 ms; stop() returns the slowest answer and the failures. */
export function watchHealth(port: number): { stop(): Promise<{ polls: number; failures: number; slowestMs: number }> } {
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
  // The new server shares the port with the old one through SO_REUSEPORT, and says so; the old one did not.
  expect(b.logs.find((l) => l.msg.startsWith('another process also listens on this port'))).toMatchObject({ port, otherListeners: 2 });
  expect(a.logs.some((l) => l.msg.startsWith('another process also listens on this port'))).toBe(false);
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
