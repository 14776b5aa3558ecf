/**
 * GET /metrics of a real server: what the shards counted in shared memory,
 * summed by the primary; counters that never go backwards when a shard
 * crashes and is replaced; the listener's own behaviour and its config.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { connect, type Client } from './helpers/client.js';
import { monotonicSeries, freePort, scrape, sumOf, value, type Scrape } from './helpers/prometheus.js';
import { FIXTURES, configFile, runCli, startServer } from './helpers/server.js';

const CRASHY = join(FIXTURES, 'crashy.mjs');

/** Opens clients until both shards hold some; returns them grouped by shard ("shard:N"). */
async function spread(port: number, n = 10): Promise<Map<string, Client[]>> {
  const by = new Map<string, Client[]>();
  for (let i = 0; i < n || by.size < 2; i++) {
    if (i > 200) throw new Error('clients never reached both shards');
    const c = await connect(port);
    await c.waitFor(1);
    const shard = String(c.messages[0]);
    by.set(shard, [...(by.get(shard) ?? []), c]);
  }
  return by;
}

async function echo(c: Client, text: string): Promise<void> {
  const before = c.messages.length;
  c.ws.send(text);
  await c.waitFor(before + 1, 5000);
  expect(c.messages[before]).toBe(text);
}

/** Every counter and histogram series of `later` is at least its value in `earlier`, and none disappeared. */
function neverBackwards(earlier: Scrape, later: Scrape): void {
  const after = monotonicSeries(later);
  const before = monotonicSeries(earlier);
  expect(before.size).toBeGreaterThan(50);
  for (const [series, v] of before) {
    const now = after.get(series);
    expect(now, series).toBeDefined();
    expect(now as number, series).toBeGreaterThanOrEqual(v);
  }
}

/** Scrapes until `pred` holds (the shards' queue/drop counters are copied every 250 ms). */
async function scrapeUntil(port: number, pred: (s: Scrape) => boolean, timeoutMs = 5000): Promise<Scrape> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const s = await scrape(port);
    if (pred(s) || performance.now() > deadline) return s;
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('metrics', () => {
  it('counts connections, messages, bytes and server close codes, and never goes backwards across a shard crash and restart', async () => {
    const metricsPort = await freePort();
    const file = configFile({ app: CRASHY, metrics: { port: metricsPort, host: '127.0.0.1' } });
    const server = await startServer(['--shards', '2', '--config', file]);
    expect(server.logs.find((l) => l.msg === 'ready')?.metricsPort).toBe(metricsPort);

    const by = await spread(server.port);
    const clients = [...by.values()].flat();
    for (const c of clients) for (let i = 0; i < 3; i++) await echo(c, `hello ${i}`);

    const first = await scrape(metricsPort);
    expect(sumOf(first, 'shardline_connections')).toBe(clients.length);
    expect(first.values.has('shardline_connections{shard="0"}') && first.values.has('shardline_connections{shard="1"}')).toBe(true);
    expect(value(first, 'shardline_connections_accepted_total')).toBe(clients.length);
    expect(value(first, 'shardline_messages_received_total')).toBe(clients.length * 3);
    // Each client got "shard:N" on open plus three echoes.
    expect(value(first, 'shardline_messages_sent_total')).toBe(clients.length * 4);
    expect(value(first, 'shardline_received_bytes_total')).toBe(clients.length * 3 * 'hello 0'.length);
    expect(value(first, 'shardline_shards')).toBe(2);
    expect(value(first, 'shardline_ready')).toBe(1);
    expect(value(first, 'shardline_shard_restarts_total')).toBe(0);
    expect(first.types.get('shardline_hook_duration_seconds')).toBe('histogram');
    expect(first.values.has('process_cpu_seconds_total')).toBe(true); // default metrics, from the primary only
    expect(first.text).toContain('shardline_build_info{version="0.1.0"');

    // A hook that throws: its socket is closed with 1011 (server-sent), counted by hook and by code.
    const [victimShard, victims] = [...by.entries()][0] as [string, Client[]];
    const [, others] = [...by.entries()][1] as [string, Client[]];
    const thrower = others.pop() as Client;
    thrower.ws.send('throw');
    expect((await thrower.closed).code).toBe(1011);
    const afterThrow = await scrape(metricsPort);
    expect(value(afterThrow, 'shardline_hook_errors_total{hook="message"}')).toBe(1);
    expect(value(afterThrow, 'shardline_server_close_frames_total{code="1011"}')).toBe(1);
    expect(value(afterThrow, 'shardline_connections_closed_total{by="server"}')).toBe(1);
    neverBackwards(first, afterThrow);

    // A client's own close frame counts as by="client", never by its code.
    const leaver = others.pop() as Client;
    leaver.ws.close(4321, 'bye');
    await leaver.closed;
    const afterLeave = await scrapeUntil(metricsPort, (s) => value(s, 'shardline_connections_closed_total{by="client"}') === 1);
    expect(value(afterLeave, 'shardline_connections_closed_total{by="client"}')).toBe(1);
    expect(afterLeave.text).not.toContain('4321');

    // Crash one shard: it is replaced, and nothing it counted is lost.
    victims[0]?.ws.send('boom');
    await server.waitForLog((l) => l.msg === 'shard restarted' && `shard:${l.shard as number}` === victimShard, 15_000);
    await Promise.all(victims.map((c) => c.closed));
    const afterCrash = await scrape(metricsPort);
    neverBackwards(afterLeave, afterCrash);
    expect(value(afterCrash, 'shardline_shard_restarts_total')).toBe(1);
    expect(value(afterCrash, 'shardline_connections_accepted_total')).toBe(clients.length);
    expect(value(afterCrash, 'shardline_messages_received_total')).toBe(clients.length * 3 + 2);
    expect(sumOf(afterCrash, 'shardline_connections')).toBe(others.length);
    expect(value(afterCrash, 'shardline_shards')).toBe(2);

    // The replacement counts on top of what its predecessor counted.
    const again = await spread(server.port, 4);
    for (const c of again.get(victimShard) ?? []) await echo(c, 'replacement');
    const last = await scrape(metricsPort);
    neverBackwards(afterCrash, last);
    const opened = [...again.values()].flat().length;
    expect(value(last, 'shardline_connections_accepted_total')).toBe(clients.length + opened);
    expect(sumOf(last, 'shardline_connections')).toBe(others.length + opened);

    server.signal('SIGTERM');
    expect((await server.exited).code).toBe(0);
  });

  it('answers only GET /metrics, and is off by default', async () => {
    const metricsPort = await freePort();
    const server = await startServer(['--config', configFile({ metrics: { port: metricsPort, host: '127.0.0.1' } })]);
    expect((await fetch(`http://127.0.0.1:${metricsPort}/other`)).status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${metricsPort}/metrics`, { method: 'POST' })).status).toBe(405);
    const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
    expect(res.headers.get('content-type')).toContain('text/plain; version=0.0.4');
    server.signal('SIGTERM');
    expect((await server.exited).code).toBe(0);

    const plain = await startServer();
    expect(plain.logs.some((l) => l.msg === 'metrics listening')).toBe(false);
    expect(plain.logs.find((l) => l.msg === 'ready')?.metricsPort).toBeUndefined();
    plain.signal('SIGTERM');
    expect((await plain.exited).code).toBe(0);
  });

  it('a metrics.port equal to port, or one already taken, is refused naming the key', async () => {
    const same = configFile({ port: 9555, metrics: { port: 9555 } });
    const bad = await runCli(['start', '--config', same], { waitReady: false });
    expect((await bad.exited).code).toBe(2);
    expect(bad.stderr()).toContain('metrics.port');

    const taken = await freePort();
    const { createServer } = await import('node:net');
    const squatter = createServer().listen(taken, '127.0.0.1');
    await new Promise((r) => squatter.once('listening', r));
    try {
      const busy = await runCli(['start', '--port', '0', '--config', configFile({ metrics: { port: taken, host: '127.0.0.1' } })], { waitReady: false });
      const { code } = await busy.exited;
      expect(code).not.toBe(0);
      expect(busy.logs.some((l) => l.code === 'SHARDLINE_LISTEN_FAILED' && String(l.msg).includes('metrics.port'))).toBe(true);
    } finally {
      squatter.close();
    }
  });
});
