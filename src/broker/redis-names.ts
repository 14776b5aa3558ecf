/**
 * Key and channel names of the Redis broker. Every name of one topic carries
 * the same Redis Cluster hash tag, so the topic's channel, stream, meta hash
 * and idempotency results live in one slot and one Lua script may touch them
 * all (Cluster spec: the slot is the CRC16 of the text between the first `{`
 * and the next `}`).
 *
 * The tag is the hex of a 32-bit FNV-1a hash of the topic's UTF-8 bytes, not
 * the topic itself: a topic may then hold any character, `{` and `}` included,
 * and the tag always comes first in the name, so it is the one Redis reads.
 * The topic follows the tag verbatim, so names stay readable in redis-cli.
 *
 *   <prefix>.ch.{<tag>}.<topic>         sharded pub/sub channel (SPUBLISH)
 *   <prefix>.stream.{<tag>}.<topic>     history stream, entry id `<offset>-0`
 *   <prefix>.meta.{<tag>}.<topic>       hash: e = epoch, s = top offset
 *   <prefix>.result.{<tag>}.<n>.<topic>.<key>   idempotency result (n = topic length, so
 *                                       topic "a.b" + key "c" never meets topic "a" + key "b.c")
 *   <prefix>.node.{<tag>}.<node id>     a node's own service channels (liveness probe; one per Cluster master)
 *
 * Changing this scheme renames every key: users' history would look lost
 * (a new epoch). Treat it as a stored format.
 */

import { randomBytes } from 'node:crypto';

/** FNV-1a, 32 bits, over the UTF-8 bytes of `s`; 8 lowercase hex digits. */
export function hashTag(s: string): string {
  const bytes = Buffer.from(s, 'utf8');
  let h = 0x811c9dc5;
  for (const b of bytes) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}

export interface TopicNames {
  channel: string;
  stream: string;
  meta: string;
  /** Idempotency result key for `key`. */
  result(key: string): string;
  /** The result key used when a publish carries no idempotency key (never written; it only keeps the script in the topic's slot). */
  noResult: string;
}

export class RedisNames {
  readonly prefix: string;
  constructor(prefix: string) {
    this.prefix = prefix;
  }

  topic(topic: string): TopicNames {
    const t = `{${hashTag(topic)}}.`;
    const p = this.prefix;
    const resultBase = `${p}.result.${t}${topic.length}.${topic}.`;
    return {
      channel: `${p}.ch.${t}${topic}`,
      stream: `${p}.stream.${t}${topic}`,
      meta: `${p}.meta.${t}${topic}`,
      result: (key: string) => resultBase + key,
      noResult: `${p}.result.${t}`,
    };
  }

  /**
   * The node's service channels: the liveness probe goes round through them.
   * Variant `i` > 0 has another hash tag, so that on a Cluster one variant
   * can be picked per master (each subscriber connection gets probed).
   */
  nodeChannel(nodeId: string, i = 0): string {
    return `${this.prefix}.node.{${hashTag(i === 0 ? nodeId : `${nodeId}/${i}`)}}.${nodeId}`;
  }
}

/** A fresh epoch: 64 random bits as 16 hex digits (no space, so it fits the envelope header). */
export function newEpoch(): string {
  return randomBytes(8).toString('hex');
}

// CRC16/XMODEM as Redis Cluster uses it (keyHashSlot in cluster.c), for
// grouping SSUBSCRIBE batches by slot: one SSUBSCRIBE may name one slot only.
const CRC_TABLE = (() => {
  const t = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 8;
    for (let j = 0; j < 8; j++) c = c & 0x8000 ? ((c << 1) ^ 0x1021) & 0xffff : (c << 1) & 0xffff;
    t[i] = c;
  }
  return t;
})();

function crc16(buf: Uint8Array): number {
  let crc = 0;
  for (const b of buf) crc = ((crc << 8) & 0xffff) ^ (CRC_TABLE[((crc >> 8) ^ b) & 0xff] ?? 0);
  return crc;
}

/** The Cluster slot (0..16383) of a key or sharded channel name. */
export function slotOf(name: string): number {
  const buf = Buffer.from(name, 'utf8');
  const open = buf.indexOf(0x7b); // '{'
  if (open >= 0) {
    const close = buf.indexOf(0x7d, open + 1); // '}'
    if (close > open + 1) return crc16(buf.subarray(open + 1, close)) & 16383;
  }
  return crc16(buf) & 16383;
}
