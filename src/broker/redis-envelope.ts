/**
 * The bytes a publication travels in, through SPUBLISH and in a history
 * stream entry (field `d`). One text header line, then the payload as is
 * (binary-safe, never base64):
 *
 *   SL1 <t|b> <time ms> <offset> <epoch> <origin>\n<payload bytes>
 *
 * `t`/`b`: text or binary payload. `offset` is 0 and `epoch` `-` on a topic
 * without history. `origin` (the publisher's node id) is last, so it may hold
 * spaces; it may not hold a newline (checked when the broker is built).
 * The Lua publish script writes `<offset> <epoch> ` between the head and the
 * origin, because only the script knows them.
 */

import type { Publication } from './broker.js';

export const ENVELOPE_VERSION = 'SL1';

/** The part before the offset, built by the publisher: `SL1 t 1700000000000 `. */
export function envelopeHead(binary: boolean, timeMs: number): string {
  return `${ENVELOPE_VERSION} ${binary ? 'b' : 't'} ${timeMs} `;
}

/** The part after the epoch: ` <origin>\n`. */
export function envelopeTail(origin: string): string {
  return ` ${origin}\n`;
}

/** The payload as the bytes Redis stores. */
export function payloadBytes(data: string | Uint8Array): Buffer {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * Decodes an envelope; undefined when the bytes are not one (another
 * program's message on our channel, or a future version): the caller counts
 * it and moves on.
 */
export function decodeEnvelope(topic: string, buf: Buffer): Publication | undefined {
  const nl = buf.indexOf(0x0a);
  if (nl < 0 || nl > 512) return undefined;
  const head = buf.toString('latin1', 0, nl);
  // SL1 flag time offset epoch origin... (origin may contain spaces)
  const parts = head.split(' ');
  if (parts.length < 6 || parts[0] !== ENVELOPE_VERSION) return undefined;
  const [, flag, timeText, offsetText, epoch] = parts as [string, string, string, string, string];
  if (flag !== 't' && flag !== 'b') return undefined;
  const time = Number(timeText);
  const offset = Number(offsetText);
  if (!Number.isSafeInteger(time) || !Number.isSafeInteger(offset) || offset < 0) return undefined;
  // The origin is UTF-8: re-decode its bytes (the latin1 header split above is only for the ASCII fields).
  const originStart = ENVELOPE_VERSION.length + flag.length + timeText.length + offsetText.length + epoch.length + 5;
  const origin = buf.toString('utf8', originStart, nl);
  const body = buf.subarray(nl + 1);
  const binary = flag === 'b';
  const pub: Publication = {
    topic,
    // A copy: the receive buffer belongs to the Redis client's parser.
    data: binary ? new Uint8Array(body) : body.toString('utf8'),
    binary,
    origin,
    time,
  };
  if (offset > 0) {
    pub.offset = offset;
    pub.epoch = epoch;
  }
  return pub;
}
