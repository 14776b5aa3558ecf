/**
 * A thread of subscribers for the fleet bench: `count` connections to one
 * node, each subscribed to one topic, with the client each system's users
 * use: `ws` speaking shardline protocol v1, or socket.io-client (WebSocket
 * transport only, one connection per subscriber: `forceNew`, so the client
 * does not multiplex them onto one socket).
 *
 * Per delivery: latency = now - payload.sentAt into a histogram (µs), and the
 * seq into a ring of counts; the watermark (highest seq every subscriber of
 * this thread has) goes to the coordinator at most once per loop turn.
 */
import * as hdr from 'hdr-histogram-js';
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import { parentPort } from 'node:worker_threads';
import { io, type Socket } from 'socket.io-client';
import WebSocket from 'ws';
import { threadCpuMs } from './procs.js';
import { assertNever, epochNow, HISTOGRAM, type ClientKind, type FromSubscribers, type Payload, type ToSubscribers } from './messages.js';

const port = parentPort;
if (port === null) throw new Error('subscriber-worker runs as a worker thread');
const post = (msg: FromSubscribers): void => port.postMessage(msg);

/** Publications that may be in flight at once, at most (a power of two). The coordinator's windows stay far below. */
const RING = 1 << 16;

interface Sub {
  close(): void;
  warm: boolean;
  /** The last seq this subscriber received. */
  last: number;
}

const subs: Sub[] = [];
let histogram = hdr.build(HISTOGRAM);
let received = 0;
let counting = false;
let next = 1; // the next seq the watermark waits for
const counts = new Uint32Array(RING);
let progressQueued = false;
let notWarm = 0;
let elu: EventLoopUtilization = performance.eventLoopUtilization();
let cpu0 = 0;
let t0 = 0;
let closing = false;
/** Subscribers the server closed (a slow-consumer close would stall the watermark: reported, not hidden). */
let closedEarly = 0;
/** Deliveries whose seq was not above the subscriber's previous one (a duplicate or out of order): should stay 0. */
let outOfOrder = 0;
const onClose = (): void => {
  if (!closing) closedEarly++;
};

function onPayload(sub: Sub, p: Payload): void {
  if (p.warm === true) {
    if (!sub.warm) {
      sub.warm = true;
      if (--notWarm === 0) post({ type: 'warm' });
    }
    return;
  }
  if (!counting || p.seq < next) return;
  if (p.seq <= sub.last) outOfOrder++;
  sub.last = p.seq;
  histogram.recordValue(Math.max(1, Math.round((epochNow() - p.sentAt) * 1000)));
  received++;
  const slot = p.seq & (RING - 1);
  if (++(counts[slot] as number) < subs.length || p.seq !== next) return;
  // Every subscriber has `next`: advance over the seqs that are complete.
  while (counts[next & (RING - 1)] === subs.length) counts[next++ & (RING - 1)] = 0;
  if (!progressQueued) {
    progressQueued = true;
    setImmediate(() => {
      progressQueued = false;
      post({ type: 'progress', watermark: next - 1 });
    });
  }
}

function shardline(url: string, topic: string): Promise<Sub> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, ['shardline.v1'], { perMessageDeflate: false });
    const sub: Sub = { close: () => ws.close(), warm: false, last: 0 };
    ws.on('error', reject);
    ws.on('close', onClose);
    ws.on('open', () => ws.send(JSON.stringify({ id: 1, subscribe: topic })));
    ws.on('message', (data: Buffer) => {
      const frame = JSON.parse(data.toString()) as { topic?: string; data?: Payload; id?: number; ok?: boolean };
      if (frame.topic === topic && frame.data !== undefined) onPayload(sub, frame.data);
      else if (frame.id === 1) frame.ok === true ? resolve(sub) : reject(new Error(`subscribe: ${data.toString()}`));
    });
  });
}

function socketio(url: string, topic: string): Promise<Sub> {
  return new Promise((resolve, reject) => {
    const socket: Socket = io(url, { transports: ['websocket'], forceNew: true, reconnection: false });
    const sub: Sub = { close: () => socket.disconnect(), warm: false, last: 0 };
    socket.on('connect_error', reject);
    socket.on('disconnect', onClose);
    socket.on('pub', (t: string, data: Payload) => {
      if (t === topic) onPayload(sub, data);
    });
    socket.on('connect', () => socket.emit('subscribe', topic, () => resolve(sub)));
  });
}

async function connect(kind: ClientKind, url: string, topic: string, count: number): Promise<number> {
  let failed = 0;
  // 100 handshakes at a time: enough to be quick, few enough not to be refused.
  for (let i = 0; i < count; i += 100) {
    const batch = await Promise.allSettled(
      Array.from({ length: Math.min(100, count - i) }, () => (kind === 'shardline' ? shardline(url, topic) : socketio(url, topic))),
    );
    for (const r of batch) {
      if (r.status === 'fulfilled') subs.push(r.value);
      else failed++;
    }
  }
  notWarm = subs.length;
  return failed;
}

port.on('message', (msg: ToSubscribers) => {
  switch (msg.type) {
    case 'connect':
      connect(msg.kind, msg.url, msg.topic, msg.count).then(
        (failed) => post({ type: 'connected', failed }),
        (err: unknown) => post({ type: 'error', message: String(err) }),
      );
      return;
    case 'phase-start':
      histogram = hdr.build(HISTOGRAM);
      received = 0;
      outOfOrder = 0;
      counts.fill(0);
      next = msg.firstSeq;
      counting = true;
      elu = performance.eventLoopUtilization();
      cpu0 = threadCpuMs();
      t0 = performance.now();
      post({ type: 'progress', watermark: next - 1 });
      post({ type: 'started' }); // the coordinator waits for this before it publishes
      return;
    case 'phase-end': {
      counting = false;
      if (process.env.FLEET_VERBOSE === '1') {
        const lasts = new Map<number, number>();
        for (const sub of subs) lasts.set(sub.last, (lasts.get(sub.last) ?? 0) + 1);
        process.stderr.write(`  subscriber thread: watermark ${next - 1}, last seq per subscriber ${JSON.stringify([...lasts])}\n`);
      }
      const report = {
        received,
        closedEarly,
        outOfOrder,
        histogram: hdr.encodeIntoCompressedBase64(histogram),
        loopUtilization: performance.eventLoopUtilization(elu).utilization,
        cpuShare: (threadCpuMs() - cpu0) / (performance.now() - t0),
      };
      post({ type: 'phase-report', report });
      return;
    }
    case 'close':
      closing = true;
      for (const s of subs) s.close();
      post({ type: 'closed' });
      return;
    default:
      assertNever(msg, 'subscriber-worker');
  }
});
