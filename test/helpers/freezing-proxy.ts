/**
 * A TCP proxy in front of a Redis that can make the subscriber connections
 * deaf without closing them: the sockets stay open, bytes are dropped both
 * ways. That is the failure of centrifugo #1189 / centrifugal/centrifuge
 * PR #594 (a connection healthy at the TCP level that no longer gets
 * published traffic), which only a liveness probe can detect.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

interface Pair {
  client: Socket;
  upstream: Socket;
  subscriber: boolean;
  frozen: boolean;
}

export class FreezingProxy {
  private readonly server: Server;
  private readonly pairs = new Set<Pair>();
  port = 0;

  constructor(upstreamPort: number) {
    this.server = createServer((client) => {
      const upstream = connect(upstreamPort, '127.0.0.1');
      const pair: Pair = { client, upstream, subscriber: false, frozen: false };
      this.pairs.add(pair);
      client.on('data', (d) => {
        // node-redis writes sharded subscribe commands as `ssubscribe`.
        if (d.toString('latin1').toLowerCase().includes('ssubscribe')) pair.subscriber = true;
        if (!pair.frozen) upstream.write(d);
      });
      upstream.on('data', (d) => {
        if (!pair.frozen) client.write(d);
      });
      const end = () => {
        client.destroy();
        upstream.destroy();
        this.pairs.delete(pair);
      };
      client.on('close', end).on('error', end);
      upstream.on('close', end).on('error', end);
    });
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    const addr = this.server.address();
    if (addr === null || typeof addr === 'string') throw new Error('no port');
    this.port = addr.port;
  }

  /** Every subscriber connection open now stops passing bytes (new ones are not affected). Returns how many. */
  freezeSubscribers(): number {
    let n = 0;
    for (const p of this.pairs) {
      if (p.subscriber) {
        p.frozen = true;
        n++;
      }
    }
    return n;
  }

  async close(): Promise<void> {
    for (const p of this.pairs) {
      p.client.destroy();
      p.upstream.destroy();
    }
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
