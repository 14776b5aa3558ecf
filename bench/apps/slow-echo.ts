/**
 * A shardline app whose message handler takes SHARDLINE_BENCH_HANDLER_MS
 * milliseconds (0: a plain synchronous echo), then echoes the message.
 * `shardline bench drain --handler-ms MS` sets the variable.
 */
import type { App } from '../../src/app.js';

const handlerMs = Number(process.env.SHARDLINE_BENCH_HANDLER_MS ?? '0') || 0;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const app: App = {
  async message(conn, data, isBinary) {
    if (handlerMs > 0) await sleep(handlerMs);
    conn.send(data, isBinary);
  },
};
export default app;
