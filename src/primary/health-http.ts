/**
 * /healthz and /readyz from the primary, on node:http (config `health.port`).
 *
 * Why a second listener: uWS v20.30 never answers an HTTP/1.0 request
 * (measured with raw sockets: `GET /readyz HTTP/1.0`, with or without Host,
 * hangs until uWS's timeout) and drops an HTTP/1.1 request without Host
 * unanswered. HAProxy's default `option httpchk GET /readyz` sends exactly
 * `GET /readyz HTTP/1.0` with no Host, and nginx proxies with HTTP/1.0 unless
 * told otherwise, so behind them every node looked DOWN. node:http answers
 * HTTP/1.0 and 1.1, with or without Host.
 *
 * It also sees what a shard cannot: /healthz is 503 when a shard's event loop
 * is stuck (its heartbeat stopped), which a probe on the shared port misses
 * when it lands on a healthy sibling.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ErrorCode, type WireError } from '../errors.js';

export type Readiness = 'ready' | 'starting' | 'draining';

export interface HealthSource {
  readiness(): Readiness;
  /** Shard numbers whose event loop is stuck (empty when healthy). */
  stuckShards(): number[];
}

export interface HealthListener {
  port: number;
  close(): void;
}

function answer(res: ServerResponse, status: number, body: string, head: boolean): void {
  // Every response closes its connection: a checker's idle keep-alive must not outlive the process's drain.
  res.writeHead(status, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body), connection: 'close' });
  res.end(head ? undefined : body);
}

function route(req: IncomingMessage, res: ServerResponse, source: HealthSource): void {
  const head = req.method === 'HEAD';
  if (req.method !== 'GET' && !head) return answer(res, 405, 'method not allowed', head);
  const path = (req.url ?? '/').split('?')[0];
  if (path === '/readyz') {
    const state = source.readiness();
    return answer(res, state === 'ready' ? 200 : 503, state, head);
  }
  if (path === '/healthz') {
    const stuck = source.stuckShards();
    return stuck.length === 0 ? answer(res, 200, 'ok', head) : answer(res, 503, `stuck shards: ${stuck.join(',')}`, head);
  }
  answer(res, 404, 'not found', head);
}

/** Listens on host:port (0 picks a free port); rejects with the listen error. */
export async function startHealthListener(host: string, port: number, source: HealthSource): Promise<HealthListener> {
  // requireHostHeader off: an HTTP/1.1 checker without Host still gets its answer (node:http would say 400).
  const server: Server = createServer({ requireHostHeader: false }, (req, res) => route(req, res, source));
  // Checkers send a few bytes: anything slow is not a checker.
  server.headersTimeout = 5_000;
  server.requestTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port, exclusive: true }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.unref(); // never what keeps the process alive
  return {
    port: (server.address() as AddressInfo).port,
    close: () => {
      server.close();
      server.closeAllConnections();
    },
  };
}

/** The primary's listener for `health` (null when health.port is null); rejects with a LISTEN_FAILED WireError naming the key. */
export async function startPrimaryHealth(health: { port: number | null; host: string }, source: HealthSource): Promise<HealthListener | null> {
  const { port, host } = health;
  if (port === null) return null;
  try {
    return await startHealthListener(host, port, source);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw { code: ErrorCode.LISTEN_FAILED, message: `health.port: cannot listen on ${host}:${port} (${code})` } satisfies WireError;
  }
}
