/**
 * The lightest WebSocket client socket for benchmarks that must not be
 * limited by their own client: raw TCP, one fixed handshake, frames found by
 * their headers and handed over as byte ranges (never decoded or copied),
 * and a pong for every ping (shardline's acknowledged window waits for them).
 * Client frames are masked with key 0, so their payload goes as it is.
 */
import { connect, type Socket } from 'node:net';

const REQUEST = (protocol: string | undefined): Buffer =>
  Buffer.from(
    'GET / HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n' +
      (protocol === undefined ? '' : `Sec-WebSocket-Protocol: ${protocol}\r\n`) +
      '\r\n',
  );

/** A masked client text frame. */
export function clientFrame(text: string): Buffer {
  const payload = Buffer.from(text);
  const len = payload.length;
  const head = len < 126 ? Buffer.from([0x81, 0x80 | len, 0, 0, 0, 0]) : Buffer.from([0x81, 0x80 | 126, len >> 8, len & 0xff, 0, 0, 0, 0]);
  return Buffer.concat([head, payload]);
}

export interface RawHandlers {
  /** The upgrade succeeded. */
  open(): void;
  /** A text or binary frame: its payload is buf[start, start + len). Called once per frame. */
  frame(buf: Buffer, start: number, len: number): void;
  /** Frames of one read were all handed over. */
  read?(): void;
  closed?(): void;
}

export interface RawSocket {
  socket: Socket;
  send(frame: Buffer): void;
}

export function openRaw(port: number, handlers: RawHandlers, opts: { protocol?: string; localAddress?: string } = {}): RawSocket {
  const socket = connect({ port, host: '127.0.0.1', ...(opts.localAddress === undefined ? {} : { localAddress: opts.localAddress }) });
  let upgraded = false;
  let rest: Buffer | null = null;
  socket.setNoDelay(true);
  socket.on('connect', () => socket.write(REQUEST(opts.protocol)));
  socket.on('data', (chunk: Buffer) => {
    let buf = rest === null ? chunk : Buffer.concat([rest, chunk]);
    if (!upgraded) {
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) {
        rest = buf;
        return;
      }
      if (!buf.subarray(0, 12).toString().includes('101')) {
        socket.destroy(new Error(`upgrade refused: ${buf.subarray(0, 40).toString()}`));
        return;
      }
      upgraded = true;
      buf = buf.subarray(end + 4);
      handlers.open();
    }
    let i = 0;
    const n = buf.length;
    while (n - i >= 2) {
      const op = (buf[i] as number) & 0x0f;
      let len = (buf[i + 1] as number) & 0x7f;
      let head = 2;
      if (len === 126) {
        if (n - i < 4) break;
        len = buf.readUInt16BE(i + 2);
        head = 4;
      } else if (len === 127) {
        if (n - i < 10) break;
        len = Number(buf.readBigUInt64BE(i + 2));
        head = 10;
      }
      if (n - i < head + len) break;
      if (op === 0x1 || op === 0x2) handlers.frame(buf, i + head, len);
      else if (op === 0x9) socket.write(Buffer.concat([Buffer.from([0x8a, 0x80 | len, 0, 0, 0, 0]), buf.subarray(i + head, i + head + len)]));
      i += head + len;
    }
    // Copied: a view would keep the whole chunk alive.
    rest = i < n ? Buffer.from(buf.subarray(i)) : null;
    handlers.read?.();
  });
  socket.on('error', () => {});
  socket.on('close', () => handlers.closed?.());
  return { socket, send: (frame) => socket.write(frame) };
}
