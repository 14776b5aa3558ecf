/**
 * Baseline (a): raw uWebSockets.js, one thread, echo, and the naive shutdown
 * most uWS servers have: on SIGTERM close the listen socket, `end()` every
 * socket (no code: clients see 1005; replies still pending are lost) and exit
 * once they are gone.
 *
 * uWS is loaded from the native binary directly: the package's main entry
 * silently falls back to a `ws` shim when the binary does not load.
 */
import { createRequire } from 'node:module';
import { baselineArgs, logLine } from './args.js';

interface Ws {
  send(message: ArrayBuffer, isBinary?: boolean): number;
  end(code?: number, reason?: string): void;
  getUserData(): { closed: boolean };
}
interface UwsApp {
  ws(pattern: string, behavior: Record<string, unknown>): UwsApp;
  any(pattern: string, handler: (res: { writeStatus(s: string): { end(body: string): void } }) => void): UwsApp;
  listen(host: string, port: number, cb: (token: unknown) => void): UwsApp;
}
interface Uws {
  App(): UwsApp;
  us_listen_socket_close(token: unknown): void;
  us_socket_local_port(token: unknown): number;
  DISABLED: number;
}

const uws = createRequire(import.meta.url)('@trufflesuite/uws-js-unofficial/binaries/uws_linux_x64_115.node') as Uws;
const { port, host, handlerMs } = baselineArgs(process.argv.slice(2));
const sockets = new Set<Ws>();
let listenSocket: unknown = null;
let stopping = false;

const stopIfDone = (): void => {
  if (stopping && sockets.size === 0) {
    logLine({ msg: 'stopped', exitCode: 0 });
    process.exit(0);
  }
};

uws
  .App()
  .ws('/*', {
    compression: uws.DISABLED,
    maxPayloadLength: 64 * 1024,
    idleTimeout: 120,
    open: (ws: Ws) => {
      ws.getUserData().closed = false;
      sockets.add(ws);
    },
    message: (ws: Ws, message: ArrayBuffer, isBinary: boolean) => {
      if (handlerMs === 0) {
        ws.send(message, isBinary);
        return;
      }
      const copy = message.slice(0); // uWS frees `message` when this handler returns
      setTimeout(() => {
        if (!ws.getUserData().closed) ws.send(copy, isBinary);
      }, handlerMs);
    },
    close: (ws: Ws) => {
      ws.getUserData().closed = true;
      sockets.delete(ws);
      stopIfDone();
    },
  })
  .any('/*', (res) => res.writeStatus('404 Not Found').end('not found'))
  .listen(host, port, (token) => {
    if (!token) {
      process.stderr.write(`uws-raw: cannot listen on ${host}:${port}\n`);
      process.exit(2);
    }
    listenSocket = token;
    logLine({ msg: 'ready', port: uws.us_socket_local_port(token), server: 'uws-raw' });
  });

process.on('SIGTERM', () => {
  if (stopping) return;
  stopping = true;
  logLine({ msg: 'drain' });
  if (listenSocket !== null) uws.us_listen_socket_close(listenSocket);
  listenSocket = null;
  for (const ws of [...sockets]) ws.end();
  stopIfDone();
});
