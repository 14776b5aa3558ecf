/**
 * The built-in app, served when no `app` is configured.
 *
 * Every message is echoed back as it came. A text message that is a JSON
 * object with one of these keys is also acted on (before the echo, so the echo
 * confirms it):
 *   {"subscribe":"t"}               subscribe this socket to topic t
 *   {"unsubscribe":"t"}             unsubscribe
 *   {"publish":"t","data":<any>}    send {"topic":"t","data":<any>} to every
 *                                   subscriber of t on every shard
 */
import { defineApp } from './app.js';

const OPEN_BRACE = 0x7b;
const MAX_COMMAND_BYTES = 64 * 1024;

interface Command {
  subscribe?: unknown;
  unsubscribe?: unknown;
  publish?: unknown;
  data?: unknown;
}

function parseCommand(data: Buffer): Command | null {
  if (data.length === 0 || data.length > MAX_COMMAND_BYTES || data[0] !== OPEN_BRACE) return null;
  try {
    const value: unknown = JSON.parse(data.toString('utf8'));
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Command) : null;
  } catch {
    return null; // not JSON: just echo it
  }
}

export default defineApp({
  message(conn, data, isBinary) {
    const cmd = isBinary ? null : parseCommand(data);
    if (cmd !== null) {
      if (typeof cmd.subscribe === 'string') conn.subscribe(cmd.subscribe);
      if (typeof cmd.unsubscribe === 'string') conn.unsubscribe(cmd.unsubscribe);
      if (typeof cmd.publish === 'string') {
        conn.publish(cmd.publish, JSON.stringify({ topic: cmd.publish, data: cmd.data ?? null }));
      }
    }
    conn.send(data, isBinary);
  },
});
