/**
 * `shardline bench http-drain`: HTTP load (autocannon's programmatic API)
 * against a route whose handler takes handlerMs, with a SIGTERM in the middle.
 *
 * shardline serves no slow HTTP route (only /healthz, /readyz and upgrades),
 * so this runs against the `ws`/node:http baseline's GET /slow. It counts the
 * requests that were in flight and failed: a non-2xx answer, or an error other
 * than ECONNREFUSED (refusals after the listener closed are new requests, not
 * in-flight ones, and are counted apart). autocannon's stop() only acts at its
 * next sample tick, so it is never used as a clock here.
 */
import autocannon from 'autocannon';
import { waitAccepting } from './drain.js';
import { bump, epochNow } from './protocol.js';
import { startServerCommand } from './server-proc.js';

export interface HttpDrainOptions {
  server: string;
  path: string;
  host: string;
  connections: number;
  handlerMs: number;
  /** SIGTERM this long after the load starts. */
  signalAfterMs: number;
  exitTimeoutMs: number;
}

export interface HttpDrainResult {
  server: string;
  url: string;
  connections: number;
  handlerMs: number;
  responses: Record<string, number>;
  responsesAfterSignal: number;
  /** In-flight requests that failed: non-2xx answers and errors other than ECONNREFUSED. */
  failedInFlight: number;
  refusedAfterSignal: number;
  errors: Record<string, number>;
  signalToExitMs: number | null;
  exitCode: number | null;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function runHttpDrain(opts: HttpDrainOptions): Promise<HttpDrainResult> {
  const server = await startServerCommand(opts.server, { env: { SHARDLINE_BENCH_HANDLER_MS: String(opts.handlerMs) } });
  try {
    await waitAccepting(opts.host, server.port);
    const url = `http://${opts.host}:${server.port}${opts.path}`;
    const responses: Record<string, number> = {};
    const errors: Record<string, number> = {};
    let signalAt = 0;
    let afterSignal = 0;
    let failed = 0;
    let refused = 0;
    // Long enough to cover the drain; the instance is stopped once the server is gone.
    const durationSec = Math.ceil((opts.signalAfterMs + opts.exitTimeoutMs) / 1000) + 1;
    let finish!: () => void;
    const done = new Promise<void>((resolve) => (finish = resolve));
    const instance = autocannon({ url, connections: opts.connections, duration: durationSec, timeout: Math.ceil(opts.exitTimeoutMs / 1000) }, () => finish());
    instance.on('response', (_client, statusCode) => {
      bump(responses, statusCode);
      if (signalAt > 0) afterSignal++;
      if (statusCode < 200 || statusCode >= 300) failed++;
    });
    instance.on('reqError', (err: NodeJS.ErrnoException) => {
      const key = err.code ?? err.message;
      bump(errors, key);
      if (key === 'ECONNREFUSED') refused++;
      else failed++;
    });
    await sleep(opts.signalAfterMs);
    signalAt = epochNow();
    server.child.kill('SIGTERM');
    const timer = setTimeout(() => server.child.kill('SIGKILL'), opts.exitTimeoutMs);
    const exit = await server.exited;
    clearTimeout(timer);
    await sleep(200); // let the last responses and resets reach autocannon
    instance.stop();
    await done;
    return {
      server: opts.server,
      url,
      connections: opts.connections,
      handlerMs: opts.handlerMs,
      responses,
      responsesAfterSignal: afterSignal,
      failedInFlight: failed,
      refusedAfterSignal: refused,
      errors,
      signalToExitMs: Math.round((exit.at - signalAt) * 10) / 10,
      exitCode: exit.code,
    };
  } finally {
    await server.kill();
  }
}
