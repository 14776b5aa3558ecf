/**
 * The lightest WebSocket client that can take part in a drain: raw TCP, one
 * fixed handshake, a pong for every ping (shardline's drain pings each socket
 * first), and on the server's close frame a masked close reply and a FIN. Used by raw-drain.ts so that the client's own CPU does not set the pace
 * of the drain the way `ws` clients do on a 2-core machine.
 *
 *   node raw-client.js PORT COUNT SOURCE_ADDRESS [PER_10MS]   (PER_10MS: connections opened per 10 ms, 250 by default)
 *   → {"opened":N,"failed":N}   once every socket is upgraded
 *   → {"firstFrame","lastFrame","lastClosed","codes"}   once every socket has closed (epoch ms)
 */
import { connect, type Socket } from 'node:net';

const [port, count, source] = [Number(process.argv[2]), Number(process.argv[3]), process.argv[4] ?? '127.0.0.1'];
const perTick = Number(process.argv[5] ?? '250') || 250;
const now = (): number => performance.timeOrigin + performance.now();
const REQUEST = Buffer.from(
  'GET / HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
);
// Masked close frame with code 1000 (mask 0, so the payload goes as it is).
const CLOSE_REPLY = Buffer.from([0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8]);

let opened = 0;
let failed = 0;
let closed = 0;
let firstFrame = 0;
let lastFrame = 0;
let lastClosed = 0;
const codes: Record<string, number> = {};

function settleOpen(): void {
  if (opened + failed === count) process.stdout.write(`${JSON.stringify({ opened, failed })}\n`);
}

function one(): void {
  const s: Socket = connect({ port, host: '127.0.0.1', localAddress: source });
  let upgraded = false;
  let sawClose = false;
  let pending: Buffer = Buffer.alloc(0);
  s.setNoDelay(true);
  s.on('connect', () => s.write(REQUEST));
  s.on('data', (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    if (!upgraded) {
      const end = pending.indexOf('\r\n\r\n');
      if (end < 0) return;
      if (!pending.subarray(0, 12).toString().includes('101')) {
        failed++;
        settleOpen();
        s.destroy();
        return;
      }
      upgraded = true;
      opened++;
      settleOpen();
      pending = pending.subarray(end + 4);
    }
    // Skip data frames; react to the close frame (server frames are unmasked).
    while (pending.length >= 2) {
      const opcode = (pending[0] as number) & 0x0f;
      let len = (pending[1] as number) & 0x7f;
      let head = 2;
      if (len === 126) {
        if (pending.length < 4) return;
        len = pending.readUInt16BE(2);
        head = 4;
      } else if (len === 127) {
        if (pending.length < 10) return;
        len = Number(pending.readBigUInt64BE(2));
        head = 10;
      }
      if (pending.length < head + len) return;
      if (opcode === 0x9) {
        // Pong with the ping's payload (control frames carry at most 125 bytes), masked with key 0.
        s.write(Buffer.concat([Buffer.from([0x8a, 0x80 | len, 0, 0, 0, 0]), pending.subarray(head, head + len)]));
      }
      if (opcode === 0x8 && !sawClose) {
        sawClose = true;
        const t = now();
        firstFrame ||= t;
        lastFrame = Math.max(lastFrame, t);
        const code = len >= 2 ? pending.readUInt16BE(head) : 1005;
        codes[code] = (codes[code] ?? 0) + 1;
        s.end(CLOSE_REPLY);
      }
      pending = pending.subarray(head + len);
    }
  });
  s.on('error', () => {});
  s.on('close', () => {
    if (!upgraded) {
      failed++;
      settleOpen();
      return;
    }
    if (!sawClose) codes['1006'] = (codes['1006'] ?? 0) + 1;
    lastClosed = Math.max(lastClosed, now());
    if (++closed === opened) {
      process.stdout.write(`${JSON.stringify({ firstFrame, lastFrame, lastClosed, codes })}\n`);
      process.exit(0);
    }
  });
}

let started = 0;
const opener = setInterval(() => {
  for (let k = 0; k < perTick && started < count; k++, started++) one();
  if (started >= count) clearInterval(opener);
}, 10);
setTimeout(() => process.exit(1), 180_000).unref();
