/**
 * Every signal a process manager sends is handled on purpose (src/cli/signals.ts).
 * Regression: SIGHUP used to kill the process with no drain (clients saw 1006).
 */
import { describe, expect, it } from 'vitest';
import { connect } from './helpers/client.js';
import { startServer } from './helpers/server.js';

describe('signals', () => {
  it('SIGHUP does not kill the server: it rolls, the client gets 1012 (not 1006) and is served again', async () => {
    const server = await startServer(['--shards', '2']);
    const client = await connect(server.port);
    server.signal('SIGHUP');
    expect((await client.closed).code).toBe(1012);
    await server.waitForLog((l) => l.msg === 'reloaded');
    expect(server.child.exitCode).toBeNull();
    const again = await connect(server.port);
    again.ws.send('still here');
    await again.waitFor(1);
    expect(again.messages).toEqual(['still here']);
    server.signal('SIGTERM');
    const [close, exit] = await Promise.all([again.closed, server.exited]);
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
