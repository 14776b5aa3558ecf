/** shardline/client instances for tests: events recorded, closed after the test. */
import WebSocket from 'ws';
import { onTestFinished } from 'vitest';
import { createClient, type Client, type ClientEvents, type ClientOptions } from '../../src/client/index.js';
import { runCli, type ServerProcess } from './server.js';

export interface Recorded {
  client: Client;
  /** Every client event in order, with the time it happened (performance.now()). */
  events: { name: keyof ClientEvents; at: number; payload: unknown }[];
  count(name: keyof ClientEvents): number;
}

const NAMES: (keyof ClientEvents)[] = ['connecting', 'connected', 'disconnected', 'closed', 'error'];

export function openClient(url: string, opts: ClientOptions = {}): Recorded {
  const client = createClient(url, { WebSocket, network: null, ...opts });
  const events: Recorded['events'] = [];
  for (const name of NAMES) client.on(name, (payload: unknown) => events.push({ name, at: performance.now(), payload }));
  onTestFinished(() => client.close());
  return { client, events, count: (name) => events.filter((e) => e.name === name).length };
}

/** Polls `pred` every 10 ms until it holds; rejects with `what` after `timeoutMs`. */
export async function until(pred: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const start = performance.now();
  while (!pred()) {
    if (performance.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Resolves with the next `name` event of the client. */
export function next<K extends keyof ClientEvents>(c: Client, name: K, timeoutMs = 15_000): Promise<ClientEvents[K]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => (off(), reject(new Error(`no ${String(name)} event within ${timeoutMs} ms`))), timeoutMs);
    const off = c.on(name, (p) => (clearTimeout(timer), off(), resolve(p)));
  });
}

/**
 * startServer with a longer wait for `ready` (60 s): with seven engineers'
 * jobs on two cores a server start has taken over 15 s here. Port 0.
 */
export async function startSlowServer(args: string[]): Promise<ServerProcess> {
  const proc = await runCli(['start', '--port', '0', '--host', '127.0.0.1', ...args], { waitReady: false });
  proc.port = (await proc.waitForLog((l) => l.msg === 'ready', 60_000)).port as number;
  return proc;
}
