/**
 * What the generator puts in its messages, so that replies are matched by
 * content, never by arrival order (a server that pushes frames of its own must
 * not corrupt the latency figures).
 *
 * Echo messages (binary): bytes 0..3 the magic 'SLG1', 4..11 the sequence
 * number on its connection (float64 LE), 12..19 the intended send time (epoch
 * ms, float64 LE), then `size - 20` bytes of 'a'.
 *
 * Pub/sub publications carry a JSON marker object as their data:
 * `{"lgp":PUBLISHER,"lgs":SEQ,"lgt":EPOCH_MS,"lgk":"TOPIC"}`. A subscriber
 * finds it anywhere in a frame's text, so any server that relays the data
 * verbatim, wrapped in any envelope, can be measured.
 */

export const HEADER_BYTES = 20;
const MAGIC = 0x534c4731; // 'SLG1'
const FILL = 0x61;

export function encodeEcho(size: number, seq: number, at: number): Buffer {
  const b = Buffer.allocUnsafe(Math.max(size, HEADER_BYTES));
  b.writeUInt32BE(MAGIC, 0);
  b.writeDoubleLE(seq, 4);
  b.writeDoubleLE(at, 12);
  if (b.length > HEADER_BYTES) b.fill(FILL, HEADER_BYTES);
  return b;
}

/** The sequence number of one of our echo messages, or -1 when the frame is not one. */
export function decodeEchoSeq(data: Buffer): number {
  if (data.length < HEADER_BYTES || data.readUInt32BE(0) !== MAGIC) return -1;
  return data.readDoubleLE(4);
}

export interface Marker {
  publisher: number;
  seq: number;
  /** Epoch ms at which the publication was sent. */
  at: number;
  topic: string;
}

export function encodeMarker(m: Marker): string {
  return `{"lgp":${m.publisher},"lgs":${m.seq},"lgt":${m.at},"lgk":${JSON.stringify(m.topic)}}`;
}

const MARKER_RE = /\{"lgp":(\d+),"lgs":(\d+),"lgt":([\d.]+),"lgk":"([^"\\]*)"\}/;

/** The marker inside a frame's text, or null. */
export function findMarker(text: string): Marker | null {
  const m = MARKER_RE.exec(text);
  if (m === null) return null;
  return { publisher: Number(m[1]), seq: Number(m[2]), at: Number(m[3]), topic: m[4] ?? '' };
}

/** Topic names are put into templates unescaped: keep them to safe characters. */
export const TOPIC_RE = /^[A-Za-z0-9_.:-]{1,64}$/;

export function fillTemplate(template: string, topic: string, data = ''): string {
  return template.replaceAll('{topic}', topic).replaceAll('{data}', data);
}
