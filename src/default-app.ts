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
 * JSON nested deeper than 64 levels is never taken as a command, only echoed.
 */
import { defineApp } from './app.js';

const OPEN_BRACE = 0x7b;
const MAX_COMMAND_BYTES = 64 * 1024;
/** Deeper JSON is not taken as a command (re-serialising it could overflow the stack): it is only echoed. */
const MAX_COMMAND_DEPTH = 64;

/** True if the JSON text nests arrays/objects deeper than `max` (strings are skipped). */
function nestsDeeper(data: Buffer, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < data.length; i++) {
    const c = data[i];
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped byte
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) return true;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return false;
}

interface Command {
  subscribe?: unknown;
  unsubscribe?: unknown;
  publish?: unknown;
  data?: unknown;
}

function parseCommand(data: Buffer): Command | null {
  if (data.length === 0 || data.length > MAX_COMMAND_BYTES || data[0] !== OPEN_BRACE) return null;
  if (nestsDeeper(data, MAX_COMMAND_DEPTH)) return null;
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
