/**
 * Protocol v1 as the client reads it (docs/PROTOCOL.md; JSON text frames).
 * Every frame the server sends is one of these; anything else is `other`
 * (an echo of a non-command, or a future frame type) and ignored.
 */

export interface Limits {
  /** Largest frame the server accepts, bytes (larger closes the socket with 1009). */
  maxPayloadBytes: number;
  /** Frames per second per socket above which the server closes with 1008; 0 = no limit. */
  maxMessagesPerSecond: number;
  /** How long the server remembers an idempotency key, s. */
  idempotencySec: number;
}

export interface Hello {
  protocol: number;
  node: string;
  /** Interval of the client's application-level ping, s. */
  pingSec: number;
  limits: Limits;
}

export interface ReplyError {
  code: string;
  message: string;
  retryable: boolean;
}

export type ServerFrame =
  | { type: 'hello'; hello: Hello }
  | { type: 'reply'; id: number; ok: true; body: Record<string, unknown> }
  | { type: 'reply'; id: number; ok: false; error: ReplyError }
  | { type: 'publication'; topic: string; data: unknown; offset: number | undefined; epoch: string | undefined }
  | { type: 'resync'; topic: string }
  | { type: 'other' };

export const PROTOCOL_VERSION = 1;
/** The WebSocket subprotocol that asks the server for protocol v1 (and its hello). */
export const SUBPROTOCOL = 'shardline.v1';

const DEFAULT_LIMITS: Limits = { maxPayloadBytes: 65_536, maxMessagesPerSecond: 0, idempotencySec: 300 };
const DEFAULT_PING_SEC = 25;

const num = (v: unknown, dflt: number): number => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : dflt);

export function parseFrame(text: string): ServerFrame {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return { type: 'other' };
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return { type: 'other' };
  const o = v as Record<string, unknown>;
  if (typeof o.hello === 'object' && o.hello !== null) {
    const h = o.hello as Record<string, unknown>;
    const l = (typeof h.limits === 'object' && h.limits !== null ? h.limits : {}) as Record<string, unknown>;
    return {
      type: 'hello',
      hello: {
        protocol: num(h.protocol, 0),
        node: typeof h.node === 'string' ? h.node : '',
        pingSec: num(h.pingSec, DEFAULT_PING_SEC),
        limits: {
          maxPayloadBytes: num(l.maxPayloadBytes, DEFAULT_LIMITS.maxPayloadBytes),
          maxMessagesPerSecond: num(l.maxMessagesPerSecond, DEFAULT_LIMITS.maxMessagesPerSecond),
          idempotencySec: num(l.idempotencySec, DEFAULT_LIMITS.idempotencySec),
        },
      },
    };
  }
  if (typeof o.id === 'number') {
    if (typeof o.error === 'object' && o.error !== null) {
      const e = o.error as Record<string, unknown>;
      return {
        type: 'reply',
        id: o.id,
        ok: false,
        error: {
          code: typeof e.code === 'string' ? e.code : 'SHARDLINE_UNKNOWN',
          message: typeof e.message === 'string' ? e.message : '',
          retryable: e.retryable === true,
        },
      };
    }
    if (o.ok === true) return { type: 'reply', id: o.id, ok: true, body: o };
  }
  if (typeof o.resync === 'string') return { type: 'resync', topic: o.resync };
  if (typeof o.topic === 'string' && 'data' in o) {
    return {
      type: 'publication',
      topic: o.topic,
      data: o.data,
      offset: typeof o.offset === 'number' ? o.offset : undefined,
      epoch: typeof o.epoch === 'string' ? o.epoch : undefined,
    };
  }
  return { type: 'other' };
}

/** UTF-8 byte length of a string, without allocating (lone surrogates count 3, as TextEncoder writes U+FFFD). */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}
