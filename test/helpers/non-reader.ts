/**
 * A WebSocket client that stops reading its socket, as a frozen tab or a stalled
 * phone does: once subscribed it leaves everything in the kernel, so the server
 * meets a full receive window and nothing else.
 *
 * Why not `ws` with ws.pause(): Node's socket.pause() keeps reading into the
 * stream's buffer until its high-water mark, so 1,000 paused `ws` clients read
 * 64 MB into the test process at the start of a storm and stall its event loop
 * for tens of milliseconds, which the echo round trips measured in that same
 * process then report as server latency. Here the socket's `onread` callback
 * returns false, and Node stops reading the descriptor at once.
 */
import { connect as tcp, type Socket } from 'node:net';
import { onTestFinished } from 'vitest';

const UPGRADE =
  'GET / HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
  'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';

/** A masked client frame (mask 0, so the payload goes as it is). */
function frame(opcode: number, payload: Buffer): Buffer {
  if (payload.length > 125) throw new RangeError('short frames only');
  return Buffer.concat([Buffer.from([0x80 | opcode, 0x80 | payload.length, 0, 0, 0, 0]), payload]);
}

interface Frame {
  opcode: number;
  payload: Buffer;
  size: number;
}

/** The first complete server frame in `buf` (unmasked), or null. */
function parse(buf: Buffer): Frame | null {
  if (buf.length < 2) return null;
  let len = (buf[1] as number) & 0x7f;
  let at = 2;
  if (len === 126) {
    if (buf.length < 4) return null;
    len = buf.readUInt16BE(2);
    at = 4;
  } else if (len === 127) {
    if (buf.length < 10) return null;
    len = Number(buf.readBigUInt64BE(2));
    at = 10;
  }
  if (buf.length < at + len) return null;
  return { opcode: (buf[0] as number) & 0x0f, payload: buf.subarray(at, at + len), size: at + len };
}

export interface NonReader {
  /** Starts reading again and resolves with the close code the server sent (1006: none, only the TCP close). */
  finish(): Promise<number>;
}

/** Connects, sends `message`, waits for the first text frame back, then stops reading. */
export function nonReader(port: number, message: string): Promise<NonReader> {
  return new Promise((resolve, reject) => {
    let state: 'handshake' | 'waiting' | 'stopped' | 'finishing' = 'handshake';
    let pending = Buffer.alloc(0);
    let code = 1006;
    let settle: (code: number) => void = () => {};
    const done = new Promise<number>((r) => (settle = r));

    const onData = (chunk: Buffer): boolean => {
      pending = pending.length === 0 ? Buffer.from(chunk) : Buffer.concat([pending, chunk]);
      if (state === 'handshake') {
        const end = pending.indexOf('\r\n\r\n');
        if (end < 0) return true;
        if (!pending.subarray(0, 13).toString().includes(' 101')) {
          reject(new Error(`upgrade refused: ${pending.subarray(0, end).toString()}`));
          socket.destroy();
          return false;
        }
        pending = pending.subarray(end + 4);
        state = 'waiting';
        socket.write(frame(1, Buffer.from(message)));
      }
      for (let f = parse(pending); f !== null; f = parse(pending)) {
        pending = pending.subarray(f.size);
        if (state === 'waiting' && f.opcode === 1) {
          state = 'stopped';
          resolve({ finish });
          return false; // Node stops reading the socket here
        }
        if (f.opcode === 8) {
          code = f.payload.length >= 2 ? f.payload.readUInt16BE(0) : 1005;
          socket.end(frame(8, f.payload.subarray(0, 2)));
        }
      }
      return state !== 'stopped';
    };

    const socket: Socket = tcp({
      port,
      host: '127.0.0.1',
      onread: { buffer: Buffer.alloc(64 * 1024), callback: (n, buf) => onData(Buffer.from(buf.buffer, buf.byteOffset, n)) },
    });
    socket.on('connect', () => socket.write(UPGRADE));
    socket.on('error', (err) => (state === 'handshake' || state === 'waiting' ? reject(err) : undefined));
    socket.on('close', () => {
      if (state === 'handshake' || state === 'waiting') reject(new Error('the server closed the connection before answering'));
      settle(code);
    });
    onTestFinished(() => void socket.destroy());

    function finish(): Promise<number> {
      state = 'finishing';
      // What arrived with the first text frame may already hold a close frame.
      onData(Buffer.alloc(0));
      socket.resume();
      return done;
    }
  });
}

/** Opens `n` non-readers, `batch` at a time. */
export async function nonReaders(port: number, n: number, message: string, batch = 200): Promise<NonReader[]> {
  const out: NonReader[] = [];
  for (let i = 0; i < n; i += batch) {
    out.push(...(await Promise.all(Array.from({ length: Math.min(batch, n - i) }, () => nonReader(port, message)))));
  }
  return out;
}
