/**
 * The shard's uWS app and its listen socket: the WebSocket behaviour every
 * socket gets, the HTTP routes, and binding the shared port (SO_REUSEPORT).
 */
import type { ResolvedConfig } from '../config.js';
import { ErrorCode, ShardlineError } from '../errors.js';
import { UWS_MAX_BACKPRESSURE, type UserData } from './connection.js';
import { addRoutes } from './http.js';
import { createApp } from './tls.js';
import type { UWS } from './uws.js';

/**
 * uWS v20.30 answers a message over its maxPayloadLength, and invalid UTF-8,
 * by dropping the TCP connection with no close frame (the client sees 1006).
 * So uWS gets a larger hard cap and shardline enforces limits.maxPayloadBytes
 * itself with a proper 1009: every message up to twice the limit gets the
 * right close code; only a frame beyond that is cut by uWS as before.
 */
function uwsPayloadCap(limit: number): number {
  return Math.min(2 ** 31 - 1, limit * 2 + 1024);
}

export interface SocketHandlers {
  upgrade(res: UWS.HttpResponse, req: UWS.HttpRequest, context: UWS.us_socket_context_t): void;
  open(ws: UWS.WebSocket<UserData>): void;
  message(ws: UWS.WebSocket<UserData>, message: ArrayBuffer, isBinary: boolean): void;
  close(ws: UWS.WebSocket<UserData>, code: number, message: ArrayBuffer): void;
  readiness(): 'ready' | 'starting' | 'draining';
}

export function buildApp(uws: typeof UWS, cfg: ResolvedConfig, on: SocketHandlers): UWS.TemplatedApp {
  return createApp(uws, cfg.tls, (server) => addSocketRoutes(uws, cfg, on, server));
}

/** The WebSocket and HTTP routes; src/shard/tls.ts registers them once per TLS server name. */
function addSocketRoutes(uws: typeof UWS, cfg: ResolvedConfig, on: SocketHandlers, server: UWS.TemplatedApp): void {
  server.ws<UserData>('/*', {
    compression: uws.DISABLED,
    maxPayloadLength: uwsPayloadCap(cfg.limits.maxPayloadBytes),
    idleTimeout: cfg.idleTimeoutSec,
    maxBackpressure: UWS_MAX_BACKPRESSURE,
    closeOnBackpressureLimit: 0, // never: the write queue decides (typed as a number in this build)
    sendPingsAutomatically: true,
    upgrade: (res, req, context) => on.upgrade(res, req, context),
    open: (ws) => on.open(ws),
    message: (ws, message, isBinary) => on.message(ws, message, isBinary),
    drain: (ws) => ws.getUserData().conn?.flush(),
    pong: (ws, message) => ws.getUserData().conn?.onPong(message),
    close: (ws, code, message) => on.close(ws, code, message),
  });
  addRoutes(server, () => on.readiness());
}

/**
 * Listens on `port` (0: let the kernel pick one). Calls back with the listen
 * socket and the real port, or throws-by-callback a LISTEN_FAILED error.
 */
export function listen(
  uws: typeof UWS,
  server: UWS.TemplatedApp,
  host: string,
  port: number,
  done: (result: { token: UWS.us_listen_socket; port: number } | ShardlineError) => void,
  shard: number,
): void {
  const failed = (p: number): void =>
    done(new ShardlineError(ErrorCode.LISTEN_FAILED, `shard ${shard} cannot listen on ${host}:${p} (in use, or not an address of this host)`));
  const localPort = (token: UWS.us_listen_socket): number => uws.us_socket_local_port(token as unknown as UWS.us_socket);
  server.listen(host, port, (token) => {
    if (token === false) return failed(port);
    if (port !== 0) return done({ token, port: localPort(token) });
    // uSockets sets SO_REUSEPORT only for a non-zero port: let the kernel pick
    // one, then bind it again for real so the other shards can share it.
    const picked = localPort(token);
    uws.us_listen_socket_close(token);
    server.listen(host, picked, (again) => (again === false ? failed(picked) : done({ token: again, port: picked })));
  });
}
