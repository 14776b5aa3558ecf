/**
 * Every signal a process manager sends is handled on purpose (src/cli/signals.ts).
 * Regression: SIGHUP used to kill the process with no drain (clients saw 1006).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { connect } from './helpers/client.js';
import { startServer } from './helpers/server.js';

describe('signals', () => {
  it('SIGHUP does not kill the server: its clients stay connected and are served', async () => {
    const server = await startServer(['--shards', '2']);
    const client = await connect(server.port);
    server.signal('SIGHUP');
    await sleep(300);
    expect(server.child.exitCode).toBeNull();
    client.ws.send('still here');
    await client.waitFor(1);
    expect(client.messages).toEqual(['still here']);
    server.signal('SIGTERM');
    const [close, exit] = await Promise.all([client.closed, server.exited]);
    expect(close.code).toBe(1001);
    expect(exit.code).toBe(0);
  });

  it.each(['SIGQUIT', 'SIGUSR2'] as const)('%s drains like SIGTERM: close 1001, exit 0', async (signal) => {
    const server = await startServer(['--shards', '2']);
    const client = await connect(server.port);
    server.signal(signal);
    const [close, exit] = await Promise.all([client.closed, server.exited]);
    expect(close.code).toBe(1001);
    expect(exit.code).toBe(0);
    expect(server.logs.find((l) => l.msg === 'drain')?.signal).toBe(signal);
  });

  it('SIGHUP during a drain is ignored: the drain goes on and exits 0', async () => {
    const server = await startServer(['--shards', '2']);
    const client = await connect(server.port);
    server.signal('SIGTERM');
    await server.waitForLog((l) => l.msg === 'drain');
    server.signal('SIGHUP');
    const [close, exit] = await Promise.all([client.closed, server.exited]);
    expect(close.code).toBe(1001);
    expect(exit.code).toBe(0);
  });
});
