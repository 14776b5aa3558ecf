/** Many connections with one request in flight on each at SIGTERM (test/load.test.ts, test/stress/). */
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'vitest';
import { loadGroup } from './load.js';
import { FIXTURES, startServer } from './server.js';

export async function inflightDrain(connections: number, perProcess: number): Promise<void> {
  const server = await startServer(['--shards', '2', '--host', '0.0.0.0', '--app', join(FIXTURES, 'slow-echo.mjs')], { env: { SLOW_MS: '100' } });
  const load = loadGroup(server.port, connections, perProcess);
  expect(await load.opened).toBe(connections);
  await load.send();
  await sleep(50);
  const sent = server.signal('SIGTERM');
  const [result, exit] = await Promise.all([load.results, server.exited]);
  expect(exit.code).toBe(0);
  expect(result.sent).toBe(connections);
  expect(result.lost).toBe(0);
  expect(result.replies).toBe(connections);
  expect(result.codes).toEqual({ 1001: connections });
  const stopped = await server.waitForLog((l) => l.msg === 'stopped');
  expect(stopped).toMatchObject({ exitCode: 0, connectionsClosed: connections, messagesDropped: 0 });
  return void (exit.at - sent);
}
