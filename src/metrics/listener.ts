/**
 * The metrics listener: node:http on the primary thread, on its own port
 * (metrics.port), never through a shard on the shared port. So a scrape is
 * answered by the one process-wide registry (not by whichever shard the
 * kernel picks, which would braid counters), and it still answers while
 * shards drain, restart or hang.
 *
 * Only `GET /metrics` (and HEAD) exist; everything else is 404. Connections
 * are closed after each answer so nothing here holds the process open.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ErrorCode, ShardlineError } from '../errors.js';

export interface Exposition {
  render(): Promise<{ body: string; contentType: string }>;
}

export class MetricsListener {
  private readonly server: Server;
  private closing: Promise<void> | null = null;

  constructor(private readonly source: Exposition) {
    this.server = createServer((req, res) => {
      res.setHeader('connection', 'close');
      const path = (req.url ?? '/').split('?')[0];
      if (path !== '/metrics') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: the metrics are at /metrics\n');
        return;
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { 'content-type': 'text/plain', allow: 'GET, HEAD' }).end('method not allowed\n');
        return;
      }
      this.source.render().then(
        ({ body, contentType }) => {
          res.writeHead(200, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
          res.end(req.method === 'HEAD' ? undefined : body);
        },
        () => {
          // A collector failed: no stack trace goes to the scraper; the scrape shows as failed.
          res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics collection failed\n');
        },
      );
    });
    this.server.keepAliveTimeout = 0;
  }

  /** Listens on host:port (0 picks a free port); resolves with the port, or rejects with LISTEN_FAILED. */
  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void =>
        reject(new ShardlineError(ErrorCode.LISTEN_FAILED, `metrics.port: cannot listen on ${host}:${port} (${err.code ?? err.message})`));
      this.server.once('error', onError);
      this.server.listen(port, host, () => {
        this.server.off('error', onError);
        resolve((this.server.address() as AddressInfo).port);
      });
    });
  }

  /** Stops accepting and ends open connections; idempotent. */
  close(): Promise<void> {
    this.closing ??= new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
    return this.closing;
  }
}
