import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * JSON lines on stdout. Synchronous writes: the log lines of a drain are few,
 * and each must be out before the process exits.
 */
export function createLogger(level: string = process.env.SHARDLINE_LOG_LEVEL ?? 'info'): Logger {
  return pino(
    { level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime },
    pino.destination({ fd: 1, sync: true }),
  );
}
