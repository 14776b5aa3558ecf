/**
 * Baseline for fan-out: raw uWebSockets.js with its native pub/sub
 * (`ws.subscribe(topic)` + `app.publish(topic, msg)`), one thread, speaking
 * the same commands as shardline's built-in app so the same client drives both:
 *
 *   {"subscribe":"t"}            -> subscribed, then echoed
 *   {"publish":"t","data":<json>} -> every subscriber gets {"topic":"t","data":<json>}, then echoed
 *   anything else                -> echoed
 *
 * The publication frame is built as shardline's publicationFrame builds it,
 * once per publication. uWS's own limit on buffered bytes is set as high as
 * shardline's (64 MiB), so neither drops a publication for a reading client.
 * What uWS does not do, and shardline does: a per-socket queue bound that
 * cuts a slow consumer off, the acknowledged window (a ping per half window),
 * and replies that never wait behind a fan-out to others.
 *
 *   node dist/bench/baselines/uws-publish.js --port 0   -> {"msg":"ready","port":N}
 */
import { createRequire } from 'node:module';
import { baselineArgs, logLine } from './args.js';

interface Ws {
  send(message: ArrayBuffer | string, isBinary?: boolean): number;
  subscribe(topic: string): boolean;
  end(code?: number, reason?: string): void;
}
interface UwsApp {
  ws(pattern: string, behavior: Record<string, unknown>): UwsApp;
  any(pattern: string, handler: (res: { writeStatus(s: string): { end(body: string): void } }) => void): UwsApp;
  listen(host: string, port: number, cb: (token: unknown) => void): UwsApp;
  publish(topic: string, message: string | ArrayBuffer, isBinary?: boolean): boolean;
}
interface Uws {
  App(): UwsApp;
  us_listen_socket_close(token: unknown): void;
  us_socket_local_port(token: unknown): number;
  DISABLED: number;
}

// The native binary directly: the package's main entry silently falls back to a `ws` shim.
const uws = createRequire(import.meta.url)('@trufflesuite/uws-js-unofficial/binaries/uws_linux_x64_115.node') as Uws;
const { port, host } = baselineArgs(process.argv.slice(2));
const sockets = new Set<Ws>();
let listenSocket: unknown = null;

function command(message: ArrayBuffer): Record<string, unknown> | null {
  const bytes = new Uint8Array(message);
  if (bytes.length === 0 || bytes[0] !== 0x7b) return null;
  try {
    const v: unknown = JSON.parse(Buffer.from(bytes).toString('utf8'));
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

const app = uws.App();
app
  .ws('/*', {
    compression: uws.DISABLED,
    maxPayloadLength: 64 * 1024,
    maxBackpressure: 64 * 1024 * 1024,
    idleTimeout: 120,
    open: (ws: Ws) => sockets.add(ws),
    message: (ws: Ws, message: ArrayBuffer, isBinary: boolean) => {
      const cmd = isBinary ? null : command(message);
      if (cmd !== null && typeof cmd.subscribe === 'string') ws.subscribe(cmd.subscribe);
      else if (cmd !== null && typeof cmd.publish === 'string') {
        app.publish(cmd.publish, `{"topic":${JSON.stringify(cmd.publish)},"data":${JSON.stringify(cmd.data ?? null)}}`, false);
      }
      ws.send(message, isBinary);
    },
    close: (ws: Ws) => sockets.delete(ws),
  })
  .any('/*', (res) => res.writeStatus('404 Not Found').end('not found'))
  .listen(host, port, (token) => {
    if (!token) {
      process.stderr.write(`uws-publish: cannot listen on ${host}:${port}\n`);
      process.exit(2);
    }
    listenSocket = token;
    logLine({ msg: 'ready', port: uws.us_socket_local_port(token), server: 'uws-publish' });
  });

process.on('SIGTERM', () => {
  if (listenSocket !== null) uws.us_listen_socket_close(listenSocket);
  listenSocket = null;
  for (const ws of [...sockets]) ws.end();
  logLine({ msg: 'stopped', exitCode: 0 });
  process.exit(0);
});
