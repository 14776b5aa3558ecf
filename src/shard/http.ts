/**
 * The HTTP side of a shard: health routes, and the gate every upgrade passes
 * before the app's own `upgrade` hook. Every plain HTTP response closes its
 * connection: an idle keep-alive connection would otherwise hold the shard's
 * thread open after a drain.
 */
import type { UpgradeRequest } from '../app.js';
import type { UWS } from './uws.js';

/** A Sec-WebSocket-Key: 16 bytes in base64 (RFC 6455 4.2.1). */
const WS_KEY = /^[A-Za-z0-9+/]{21}[AQgw]==$/;

export interface Rejection {
  status: string;
  body: string;
  headers?: Record<string, string>;
}

export const Rejections = {
  draining: { status: '503 Service Unavailable', body: 'draining' },
  atCapacity: { status: '503 Service Unavailable', body: 'at capacity' },
  badVersion: { status: '426 Upgrade Required', body: 'unsupported websocket version', headers: { 'sec-websocket-version': '13' } },
  badKey: { status: '400 Bad Request', body: 'bad sec-websocket-key' },
  origin: { status: '403 Forbidden', body: 'origin not allowed' },
  unauthorized: { status: '401 Unauthorized', body: 'unauthorized' },
  internal: { status: '500 Internal Server Error', body: 'internal error' },
} as const satisfies Record<string, Rejection>;

export function reject(res: UWS.HttpResponse, r: Rejection): void {
  res.writeStatus(r.status);
  for (const [name, value] of Object.entries(r.headers ?? {})) res.writeHeader(name, value);
  res.end(r.body, true);
}

export interface GateState {
  draining: boolean;
  /** Lower-cased allowed origins; null = any. */
  allowedOrigins: ReadonlySet<string> | null;
  /** Open sockets over all shards, and the cap (0 = none). */
  connections: number;
  maxConnections: number;
}

/** The checks every upgrade passes, in order; null when it may proceed. */
export function checkUpgrade(req: UWS.HttpRequest, state: GateState): Rejection | null {
  if (state.draining) return Rejections.draining;
  if (req.getHeader('sec-websocket-version') !== '13') return Rejections.badVersion; // only version 13 exists
  if (!WS_KEY.test(req.getHeader('sec-websocket-key'))) return Rejections.badKey;
  // Browsers always send Origin; other clients may not, and are not what this guards against.
  const origin = req.getHeader('origin');
  if (state.allowedOrigins !== null && origin !== '' && !state.allowedOrigins.has(origin.toLowerCase())) return Rejections.origin;
  if (state.maxConnections > 0 && state.connections >= state.maxConnections) return Rejections.atCapacity;
  return null;
}

/** A copy of the request for the app's hook: uWS's own request dies when the handler returns. */
export function copyRequest(req: UWS.HttpRequest, res: UWS.HttpResponse): UpgradeRequest {
  const headers: Record<string, string> = {};
  req.forEach((name, value) => {
    headers[name] = value;
  });
  return {
    method: req.getCaseSensitiveMethod(),
    url: req.getUrl(),
    query: req.getQuery() ?? '',
    headers,
    remoteAddress: Buffer.from(res.getRemoteAddressAsText()).toString(),
  };
}

/** /healthz (alive), /readyz (ready for traffic), 404 for the rest. */
export function addRoutes(server: UWS.TemplatedApp, readiness: () => 'ready' | 'starting' | 'draining'): void {
  server.get('/healthz', (res) => {
    res.writeStatus('200 OK').writeHeader('content-type', 'text/plain').end('ok', true);
  });
  server.get('/readyz', (res) => {
    const state = readiness();
    res
      .writeStatus(state === 'ready' ? '200 OK' : '503 Service Unavailable')
      .writeHeader('content-type', 'text/plain')
      .end(state, true);
  });
  server.any('/*', (res) => {
    res.writeStatus('404 Not Found').writeHeader('content-type', 'text/plain').end('not found', true);
  });
}
