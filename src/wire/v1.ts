/**
 * Protocol v1 of the built-in app: JSON text frames (docs/PROTOCOL.md is the
 * reference and says the same). This file parses commands and builds frames;
 * src/default-app.ts acts on them.
 *
 * A client selects v1 with the WebSocket subprotocol `shardline.v1` and then
 * gets a `hello` first. Commands work for every client. A command carries an
 * optional numeric `id`; with one it gets a reply with the same id instead of
 * the echo. A message that is not a JSON command is echoed as it came.
 */
import type { PublicationFrame, PubSubError, StreamPosition } from '../app.js';
import { ErrorCode } from '../errors.js';

export const SUBPROTOCOL = 'shardline.v1';
export const PROTOCOL_VERSION = 1;

const OPEN_BRACE = 0x7b;
export const MAX_COMMAND_BYTES = 64 * 1024;
/** Deeper JSON is not taken as a command (re-serialising it could overflow the stack): it is only echoed. */
const MAX_COMMAND_DEPTH = 64;
const MAX_KEY_LENGTH = 128;

export type Command =
  | { kind: 'subscribe'; id: number | undefined; topic: string; since: StreamPosition | undefined }
  | { kind: 'unsubscribe'; id: number | undefined; topic: string }
  | { kind: 'publish'; id: number | undefined; topic: string; data: string; key: string | undefined }
  | { kind: 'ping'; id: number | undefined }
  /** A JSON object with an id that is not a valid command: answered with BAD_COMMAND. */
  | { kind: 'bad'; id: number; message: string };

/** True if the JSON text nests arrays/objects deeper than `max` (strings are skipped). */
function nestsDeeper(data: Buffer, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < data.length; i++) {
    const c = data[i];
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped byte
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) return true;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return false;
}

function isId(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function parseSince(v: unknown): StreamPosition | undefined | null {
  if (v === undefined) return undefined;
  if (v === null || typeof v !== 'object') return null;
  const { offset, epoch } = v as { offset?: unknown; epoch?: unknown };
  if (!isId(offset) || typeof epoch !== 'string' || epoch.length > 64) return null;
  return { offset, epoch };
}

/** Parses a text message; null when it is not a command (it is then echoed). */
export function parseCommand(data: Buffer): Command | null {
  if (data.length === 0 || data.length > MAX_COMMAND_BYTES || data[0] !== OPEN_BRACE) return null;
  if (nestsDeeper(data, MAX_COMMAND_DEPTH)) return null;
  let value: unknown;
  try {
    value = JSON.parse(data.toString('utf8'));
  } catch {
    return null; // not JSON: just echo it
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return null;
  const o = value as Record<string, unknown>;
  if (o.id !== undefined && !isId(o.id)) return null; // not ours: echo
  const id = o.id as number | undefined;
  const bad = (message: string): Command | null => (id === undefined ? null : { kind: 'bad', id, message });
  if ('subscribe' in o) {
    if (typeof o.subscribe !== 'string') return bad('subscribe: the topic must be a string');
    const since = parseSince(o.since);
    if (since === null) return bad('since: must be {"offset": <integer >= 0>, "epoch": <string>}');
    return { kind: 'subscribe', id, topic: o.subscribe, since };
  }
  if ('unsubscribe' in o) {
    if (typeof o.unsubscribe !== 'string') return bad('unsubscribe: the topic must be a string');
    return { kind: 'unsubscribe', id, topic: o.unsubscribe };
  }
  if ('publish' in o) {
    if (typeof o.publish !== 'string') return bad('publish: the topic must be a string');
    if (o.key !== undefined && (typeof o.key !== 'string' || o.key.length === 0 || o.key.length > MAX_KEY_LENGTH)) {
      return bad(`key: must be a string of 1 to ${MAX_KEY_LENGTH} characters`);
    }
    return { kind: 'publish', id, topic: o.publish, data: JSON.stringify(o.data ?? null), key: o.key as string | undefined };
  }
  if ('ping' in o) return { kind: 'ping', id };
  return bad('unknown command (subscribe, unsubscribe, publish, ping)');
}

export interface HelloInfo {
  node: string;
  pingSec: number;
  maxPayloadBytes: number;
  maxMessagesPerSecond: number;
  idempotencySec: number;
}

export function helloFrame(h: HelloInfo): string {
  return JSON.stringify({
    hello: {
      protocol: PROTOCOL_VERSION,
      node: h.node,
      pingSec: h.pingSec,
      limits: { maxPayloadBytes: h.maxPayloadBytes, maxMessagesPerSecond: h.maxMessagesPerSecond, idempotencySec: h.idempotencySec },
    },
  });
}

export function okFrame(id: number, fields: Record<string, unknown> = {}): string {
  return JSON.stringify({ id, ok: true, ...fields });
}

export function errorFrame(id: number, error: PubSubError): string {
  return JSON.stringify({ id, error: { code: error.code, message: error.message, retryable: error.retryable } });
}

export function badCommand(message: string): PubSubError {
  return { code: ErrorCode.BAD_COMMAND, message, retryable: false };
}

export function resyncFrame(topic: string): string {
  return JSON.stringify({ resync: topic });
}

/**
 * A publication as subscribers receive it: `{"topic":"t","data":<json>}`, plus
 * `"offset"` and `"epoch"` on history topics. The data of a publication made
 * through this protocol or the HTTP API is JSON text and goes in as it is;
 * other text (a standalone publish() of plain text) goes in as a JSON string;
 * bytes go out as they are, in a binary frame.
 */
export function publicationFrame(pub: PublicationFrame): string | Uint8Array {
  if (pub.binary) return typeof pub.data === 'string' ? Buffer.from(pub.data) : pub.data;
  const text = typeof pub.data === 'string' ? pub.data : Buffer.from(pub.data).toString('utf8');
  let json = text;
  try {
    JSON.parse(text);
  } catch {
    json = JSON.stringify(text);
  }
  const position = pub.offset === undefined ? '' : `,"offset":${pub.offset},"epoch":${JSON.stringify(pub.epoch ?? '')}`;
  return `{"topic":${JSON.stringify(pub.topic)},"data":${json}${position}}`;
}
