/**
 * One client thread of bench/fanout-throughput.ts: raw-TCP WebSocket
 * subscribers (a fixed handshake, frames counted, not decoded, a pong for
 * every ping), and in thread 0 the publisher.
 *
 * Flow control is global, through shared memory (Int32Array slots, see
 * Slot): each thread posts the fewest publications any of its subscribers has
 * received, once per event-loop turn; the publisher keeps `sent - min over
 * all threads` at most `inflight`. So no server ever holds more than
 * `inflight` publications for a reading subscriber, and the rate is what the
 * server can deliver to every subscriber.
 */
import { connect, type Socket } from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';
import { Slot, lostSlot, totalSlot, type ClientInit } from './fanout-shared.js';

const REQUEST = Buffer.from(
  'GET / HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
);

/** A client text frame, masked with key 0 (so the payload goes as it is). */
function clientFrame(text: string): Buffer {
  const payload = Buffer.from(text);
  const len = payload.length;
  const head = len < 126 ? Buffer.from([0x81, 0x80 | len, 0, 0, 0, 0]) : Buffer.from([0x81, 0x80 | 126, len >> 8, len & 0xff, 0, 0, 0, 0]);
  return Buffer.concat([head, payload]);
}

interface Sub {
  socket: Socket;
  upgraded: boolean;
  /** Data frames received; -1 until the echo of the subscribe command. */
  got: number;
  rest: Buffer | null;
}

const init = workerData as ClientInit;
const shared = new Int32Array(init.shared);
const subs: Sub[] = [];
let frames = 0;
let turnScheduled = false;
let publisher: Sub | null = null;
const PUBLISH = clientFrame(JSON.stringify({ publish: init.topic, data: 'x'.repeat(init.size) }));

/** Counts data frames in `chunk`, answers pings; returns the frames counted. */
function parse(s: Sub, chunk: Buffer): number {
  let buf = s.rest === null ? chunk : Buffer.concat([s.rest, chunk]);
  if (!s.upgraded) {
    const end = buf.indexOf('\r\n\r\n');
    if (end < 0) {
      s.rest = buf;
      return 0;
    }
    if (!buf.subarray(0, 12).toString().includes('101')) throw new Error(`upgrade refused: ${buf.subarray(0, 40).toString()}`);
    s.upgraded = true;
    buf = buf.subarray(end + 4);
  }
  let i = 0;
  let counted = 0;
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
    if (op === 0x1 || op === 0x2) counted++;
    else if (op === 0x9) s.socket.write(Buffer.concat([Buffer.from([0x8a, 0x80 | len, 0, 0, 0, 0]), buf.subarray(i + head, i + head + len)]));
    i += head + len;
  }
  s.rest = i < n ? Buffer.from(buf.subarray(i)) : null;
  return counted;
}

function open(onReady: (s: Sub) => void, subscribe: boolean): Sub {
  const socket = connect({ port: init.port, host: '127.0.0.1' });
  const s: Sub = { socket, upgraded: false, got: subscribe ? -1 : 0, rest: null };
  socket.setNoDelay(true);
  socket.on('connect', () => socket.write(REQUEST));
  let ready = false;
  socket.on('data', (chunk: Buffer) => {
    const wasUpgraded = s.upgraded;
    const n = parse(s, chunk);
    if (!wasUpgraded && s.upgraded && subscribe) socket.write(clientFrame(JSON.stringify({ subscribe: init.topic })));
    if (s !== publisher) {
      s.got += n;
      frames += n;
    }
    if (!ready && s.upgraded && s.got >= 0) {
      ready = true;
      onReady(s);
    }
    if (!turnScheduled) {
      turnScheduled = true;
      setImmediate(turn);
    }
  });
  socket.on('error', () => {});
  socket.on('close', () => {
    if (Atomics.load(shared, Slot.STATE) !== 3) Atomics.add(shared, lostSlot(init.threads, init.index), 1);
  });
  return s;
}

/** Once per turn: post this thread's progress; thread 0 publishes what the window allows. */
function turn(): void {
  turnScheduled = false;
  let min = Number.MAX_SAFE_INTEGER;
  for (const s of subs) if (s.got < min) min = s.got;
  Atomics.store(shared, Slot.MIN + init.index, subs.length === 0 ? 0x7fffffff : min);
  Atomics.store(shared, totalSlot(init.threads, init.index), frames);
  if (publisher !== null) pump(publisher);
}

function pump(p: Sub): void {
  if (Atomics.load(shared, Slot.STATE) !== 1) return;
  let min = Number.MAX_SAFE_INTEGER;
  for (let t = 0; t < init.threads; t++) min = Math.min(min, Atomics.load(shared, Slot.MIN + t));
  const sent = Atomics.load(shared, Slot.SENT);
  const room = init.inflight - (sent - min);
  if (room <= 0) return;
  p.socket.write(room === 1 ? PUBLISH : Buffer.concat(Array.from({ length: room }, () => PUBLISH)));
  Atomics.store(shared, Slot.SENT, sent + room);
}

let readyCount = 0;
const want = init.subscribers + (init.index === 0 ? 1 : 0);
const ready = (): void => {
  if (++readyCount === want) parentPort?.postMessage({ type: 'ready' });
};
for (let i = 0; i < init.subscribers; i++) subs.push(open(ready, true));
if (init.index === 0) publisher = open(ready, false);
// The publisher also looks every millisecond: the window may open on another thread's progress alone.
const timer = publisher === null ? null : setInterval(() => pump(publisher as Sub), 1);

parentPort?.on('message', (msg: { type: 'close' }) => {
  if (msg.type !== 'close') return;
  if (timer !== null) clearInterval(timer);
  for (const s of [...subs, ...(publisher === null ? [] : [publisher])]) s.socket.destroy();
  parentPort?.close();
});
