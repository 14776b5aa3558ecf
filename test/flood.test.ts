/**
 * Floods: connections opened as fast as a client can, a reconnect storm onto
 * a new server on the same port (an overlapping restart), and one client
 * sending as fast as it can, while /healthz is watched.
 * test/stress/ runs the flood at 19,000 connections.
 */
import { describe, expect, it } from 'vitest';
import { connect } from './helpers/client.js';
import { floodAndReconnect, watchHealth } from './helpers/floods.js';
import { startServer } from './helpers/server.js';

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
