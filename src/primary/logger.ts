import { pino, type Logger } from 'pino';
import { PinoPretty } from 'pino-pretty';

export type { Logger };

/**
 * JSON lines on stdout; readable lines when stdout is a terminal (a person is
 * watching, no log collector is parsing). Either way the writes are
 * synchronous: the log lines of a drain are few, and each must be out before
 * the process exits. (pino's `transport` option would format in a worker
 * thread, asynchronously, and could lose the drain's last lines.)
 *
 * SHARDLINE_LOG_FORMAT=json|pretty overrides the terminal check.
 */
export function createLogger(level: string = process.env.SHARDLINE_LOG_LEVEL ?? 'info'): Logger {
  const options = { level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime };
  if (!prettyWanted()) return pino(options, pino.destination({ fd: 1, sync: true }));
  const pretty = PinoPretty({
    destination: 1,
    sync: true, // a SonicBoom on fd 1 written synchronously, as the JSON path
    colorize: process.stdout.hasColors?.() ?? false,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname',
    singleLine: true,
  });
  return pino(options, pretty);
}

function prettyWanted(): boolean {
  const format = process.env.SHARDLINE_LOG_FORMAT;
  if (format === 'json') return false;
  if (format === 'pretty') return true;
  return process.stdout.isTTY === true;
}
