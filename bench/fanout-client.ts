/**
 * One client thread of bench/fanout-throughput.ts: raw-TCP WebSocket
 * subscribers (bench/raw-ws.ts: frames counted, not decoded, a pong for
 * every ping), and in thread 0 the publisher.
 *
 * Flow control is global, through shared memory (Int32Array slots, see
 * Slot): each thread posts the fewest publications any of its subscribers has
 * received, once per event-loop turn; the publisher keeps `sent - min over
 * all threads` at most `inflight`. So no server ever holds more than
 * `inflight` publications for a reading subscriber, and the rate is what the
 * server can deliver to every subscriber.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Slot, lostSlot, totalSlot, type ClientInit } from './fanout-shared.js';
import { clientFrame, openRaw, type RawSocket } from './raw-ws.js';

interface Sub {
  raw: RawSocket;
  /** Data frames received; -1 until the echo of the subscribe command. */
  got: number;
}

const init = workerData as ClientInit;
const shared = new Int32Array(init.shared);
const subs: Sub[] = [];
let frames = 0;
let turnScheduled = false;
let publisher: Sub | null = null;
const PUBLISH = clientFrame(JSON.stringify({ publish: init.topic, data: 'x'.repeat(init.size) }));
const SUBSCRIBE = clientFrame(JSON.stringify({ subscribe: init.topic }));

function open(onReady: () => void, subscribe: boolean): Sub {
  let ready = false;
  const s: Sub = {
    got: subscribe ? -1 : 0,
    raw: openRaw(init.port, {
      open: () => {
        if (subscribe) s.raw.send(SUBSCRIBE);
        else {
          ready = true;
          onReady();
        }
      },
      frame: () => {
        if (s === publisher) return; // its echoes
        s.got++;
        frames++;
        if (!ready && s.got >= 0) {
          ready = true;
          onReady();
        }
      },
      read: () => {
        if (!turnScheduled) {
          turnScheduled = true;
          setImmediate(turn);
        }
      },
      closed: () => {
        if (Atomics.load(shared, Slot.STATE) !== 3) Atomics.add(shared, lostSlot(init.threads, init.index), 1);
      },
    }),
  };
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
  p.raw.send(room === 1 ? PUBLISH : Buffer.concat(Array.from({ length: room }, () => PUBLISH)));
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
  for (const s of [...subs, ...(publisher === null ? [] : [publisher])]) s.raw.socket.destroy();
  parentPort?.close();
});
