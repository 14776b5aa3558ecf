/**
 * A tiny raw HTTP server that answers every request, upgrades included, with
 * 503 (a node that refuses upgrades: maxConnections reached, or draining).
 * Counts the upgrade attempts with the time of each.
 */
import { createServer, type Server } from 'node:net';
import { once } from 'node:events';
import { onTestFinished } from 'vitest';

export interface RefusingServer {
  port: number;
  /** performance.now() of every upgrade request received. */
  attempts: number[];
  close(): Promise<void>;
}

export async function startRefusingServer(): Promise<RefusingServer> {
  const attempts: number[] = [];
  const server: Server = createServer((sock) => {
    let head = '';
    sock.setEncoding('latin1');
    sock.on('error', () => {});
    sock.on('data', (chunk: string) => {
      head += chunk;
      if (!head.includes('\r\n\r\n')) return;
      if (/^upgrade:\s*websocket/im.test(head)) attempts.push(performance.now());
      sock.end('HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const rs: RefusingServer = {
    port: (server.address() as { port: number }).port,
    attempts,
    async close() {
      server.close();
      await once(server, 'close');
    },
  };
  onTestFinished(() => (server.listening ? rs.close() : undefined));
  return rs;
}
