/**
 * The primary's health listener (src/primary/health-http.ts) answers the
 * checks of the common load balancers, raw bytes on a real socket each.
 * Regression: `GET /readyz HTTP/1.0` got no answer at all from uWS v20.30.
 */
import { connect as tcp } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { connect } from './helpers/client.js';
import { FIXTURES, configFile, startServer } from './helpers/server.js';

/** Sends `request` as is; resolves with the status line, or null when nothing came within `waitMs`. */
function raw(port: number, request: string, waitMs = 2000): Promise<string | null> {
  return new Promise((resolve) => {
    const s = tcp(port, '127.0.0.1', () => s.write(request));
    let data = '';
    const timer = setTimeout(() => (s.destroy(), resolve(data ? (data.split('\r\n')[0] ?? null) : null)), waitMs);
    s.on('data', (d) => (data += d.toString()));
    s.on('close', () => (clearTimeout(timer), resolve(data ? (data.split('\r\n')[0] ?? null) : null)));
    s.on('error', () => undefined);
  });
}

const CHECKS = {
  'HAProxy default (HTTP/1.0, no Host)': 'GET /readyz HTTP/1.0\r\n\r\n',
  'nginx proxy default (HTTP/1.0 with Host)': 'GET /readyz HTTP/1.0\r\nHost: node\r\nConnection: close\r\n\r\n',
  'Kubernetes probe (HTTP/1.1)': 'GET /readyz HTTP/1.1\r\nHost: 10.0.0.1:9002\r\nUser-Agent: kube-probe/1.34\r\nAccept: */*\r\nConnection: close\r\n\r\n',
  'HTTP/1.1 without Host': 'GET /readyz HTTP/1.1\r\nUser-Agent: lb\r\n\r\n',
  'HEAD (cloud load balancers)': 'HEAD /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
};

describe('health.port', () => {
  it.each(Object.entries(CHECKS))('%s: 200 from the primary', async (_name, request) => {
    const server = await startServer(['--shards', '1', '--config', configFile({ health: { port: 0 } })]);
    const port = server.logs.find((l) => l.msg === 'ready')?.healthPort as number;
    expect(await raw(port, request)).toBe('HTTP/1.1 200 OK');
  });

  it('uWS itself still does not answer HTTP/1.0 (why health.port exists)', async () => {
    const server = await startServer(['--shards', '1']);
    expect(await raw(server.port, CHECKS['HAProxy default (HTTP/1.0, no Host)'], 1500)).toBeNull();
    expect(await raw(server.port, CHECKS['Kubernetes probe (HTTP/1.1)'])).toBe('HTTP/1.1 200 OK');
  });

  it('/readyz turns 503 at the drain and stays answerable until the exit; /healthz stays 200', async () => {
    const server = await startServer(['--shards', '1', '--config', configFile({ health: { port: 0 }, drain: { delayMs: 1500 } })]);
    const port = server.logs.find((l) => l.msg === 'ready')?.healthPort as number;
    const client = await connect(server.port);
    server.signal('SIGTERM');
    await server.waitForLog((l) => l.msg === 'drain');
    expect(await raw(port, CHECKS['HAProxy default (HTTP/1.0, no Host)'])).toBe('HTTP/1.1 503 Service Unavailable');
    expect(await raw(port, 'GET /healthz HTTP/1.0\r\n\r\n')).toBe('HTTP/1.1 200 OK');
    expect((await client.closed).code).toBe(1001);
    expect((await server.exited).code).toBe(0);
  });

  it('/healthz is 503 naming the shard whose event loop is stuck', async () => {
    const server = await startServer(['--shards', '2', '--config', configFile({ health: { port: 0 }, app: join(FIXTURES, 'crashy.mjs') })]);
    const port = server.logs.find((l) => l.msg === 'ready')?.healthPort as number;
    const client = await connect(server.port);
    await client.waitFor(1);
    const shard = String(client.messages[0]).replace('shard:', '');
    client.ws.send('hang');
    await server.waitForLog((l) => l.msg === 'shard unresponsive: its event loop is stuck', 15_000);
    const res = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(res.status).toBe(503);
    expect(await res.text()).toBe(`stuck shards: ${shard}`);
  }, 30_000);

  it('a health port in use exits with a clear line', async () => {
    const server = await startServer(['--shards', '1', '--config', configFile({ health: { port: 0 } })]);
    const taken = server.logs.find((l) => l.msg === 'ready')?.healthPort as number;
    const { runCli } = await import('./helpers/server.js');
    const second = await runCli(['start', '--port', '0', '--host', '127.0.0.1', '--shards', '1', '--config', configFile({ health: { port: taken } })], {
      waitReady: false,
    });
    const { code } = await second.exited;
    expect(code).not.toBe(0);
    expect(second.stderr()).toContain(`health.port: cannot listen on 127.0.0.1:${taken} (EADDRINUSE)`);
  });
});
