/**
 * A real Prometheus server (Debian's `prometheus`, started here on a free
 * port) scrapes shardline's metrics listener; its query API must see the
 * connections that real WebSocket clients hold open, and see them go away.
 */
import { describe, expect, it } from 'vitest';
import { connectMany } from './helpers/client.js';
import { freePort, startPrometheus, type Prometheus } from './helpers/prometheus.js';
import { configFile, startServer } from './helpers/server.js';

/** Polls a PromQL query until its single value equals `want`; returns the last value seen. */
async function queryUntil(prom: Prometheus, promql: string, want: number, timeoutMs = 30_000): Promise<number | null> {
  const deadline = performance.now() + timeoutMs;
  let last: number | null = null;
  for (;;) {
    const result = await prom.query(promql);
    last = result.length === 1 ? Number(result[0]?.value[1]) : null;
    if (last === want || performance.now() > deadline) return last;
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe('prometheus', () => {
  it('a real Prometheus scraping /metrics sees the connections gauge of N open clients, per shard and in sum', async () => {
    const N = 60;
    const metricsPort = await freePort();
    const server = await startServer(['--shards', '2', '--config', configFile({ metrics: { port: metricsPort, host: '127.0.0.1' } })]);
    const prom = await startPrometheus(metricsPort);

    expect(await queryUntil(prom, 'up{job="shardline"}', 1)).toBe(1);
    const clients = await connectMany(server.port, N, 20);
    expect(await queryUntil(prom, 'sum(shardline_connections)', N)).toBe(N);
    const perShard = await prom.query('shardline_connections');
    expect(perShard.map((r) => r.metric.shard).sort()).toEqual(['0', '1']);
    expect(perShard.reduce((s, r) => s + Number(r.value[1]), 0)).toBe(N);
    expect(await queryUntil(prom, 'shardline_connections_accepted_total', N)).toBe(N);

    // Half of them leave: the gauge follows (it is the registry size, not an inc/dec that could drift).
    for (const c of clients.slice(0, N / 2)) c.ws.close();
    expect(await queryUntil(prom, 'sum(shardline_connections)', N / 2)).toBe(N / 2);
    expect(await queryUntil(prom, 'shardline_connections_closed_total{by="client"}', N / 2)).toBe(N / 2);

    server.signal('SIGTERM');
    expect((await server.exited).code).toBe(0);
  });
});
