/** The flags both baselines take: --port N (0 = any), --host H, --handler-ms MS (or SHARDLINE_BENCH_HANDLER_MS). */
import { parseArgs } from 'node:util';

export interface BaselineArgs {
  port: number;
  host: string;
  handlerMs: number;
}

export function baselineArgs(argv: string[]): BaselineArgs {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: { port: { type: 'string' }, host: { type: 'string' }, 'handler-ms': { type: 'string' } },
  });
  return {
    port: Number(values.port ?? '0'),
    host: values.host ?? '127.0.0.1',
    handlerMs: Number(values['handler-ms'] ?? process.env.SHARDLINE_BENCH_HANDLER_MS ?? '0') || 0,
  };
}

/** One JSON log line on stdout, the shape the bench reads (`{"msg":"ready","port":N}`). */
export function logLine(fields: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify({ time: Date.now(), ...fields })}\n`);
}
