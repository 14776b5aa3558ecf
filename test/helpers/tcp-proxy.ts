/**
 * A real TCP proxy between a client and a server, to break the link the way
 * networks do: cut every connection (RST, the client sees 1006), swallow the
 * server's bytes (replies lost while requests still arrive), or black-hole
 * both directions (a dead link with no FIN: only a ping timeout finds it).
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { onTestFinished } from 'vitest';

export type ProxyMode = 'pass' | 'drop-replies' | 'blackhole';

export interface TcpProxy {
  port: number;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Connection pairs open now. */
  readonly open: number;
  mode: ProxyMode;
  /** Points new connections at another server port. */
  target: number;
  /** Destroys every open connection pair. */
  cut(): void;
  close(): Promise<void>;
}

export async function startProxy(target: number): Promise<TcpProxy> {
  const pairs = new Set<[Socket, Socket]>();
  let accepted = 0;
  const proxy: TcpProxy = {
    port: 0,
    get accepted() {
      return accepted;
    },
    get open() {
      return pairs.size;
    },
    mode: 'pass',
    target,
    cut() {
      for (const [a, b] of pairs) a.resetAndDestroy(), b.destroy();
      pairs.clear();
    },
    async close() {
      proxy.cut();
      server.close();
      await once(server, 'close');
    },
  };
  const server: Server = createServer((client) => {
    accepted++;
    const upstream = connect(proxy.target, '127.0.0.1');
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    const end = (): void => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('data', (d) => {
      if (proxy.mode !== 'blackhole') upstream.write(d);
    });
    upstream.on('data', (d) => {
      if (proxy.mode === 'pass') client.write(d);
    });
    for (const s of pair) s.on('error', end), s.on('close', end);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  proxy.port = (server.address() as { port: number }).port;
  onTestFinished(() => (server.listening ? proxy.close() : undefined));
  return proxy;
}
