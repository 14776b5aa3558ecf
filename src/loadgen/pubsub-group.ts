/**
 * One client group of `bench pubsub`: its connections are subscribers first,
 * then publishers (pubsub.ts assigns the counts and the global ids).
 *
 * A publisher sends, on a fixed schedule, publications whose data is the
 * marker of payload.ts (publisher id, sequence number per (publisher, topic),
 * intended send time, topic). A subscriber finds the marker in every frame it
 * gets; per (publisher, topic) stream it expects the sequence numbers in
 * order: a jump is a gap (its missing numbers are remembered, so a late
 * arrival is not a duplicate), a number seen before is a duplicate. Latency
 * runs from the intended publish time to the receipt, on the shared epoch clock.
 */
import * as hdr from 'hdr-histogram-js';
import WebSocket from 'ws';
import { closeAll, Connector } from './connector.js';
import { MAX_LATENCY_US, newHistogram } from './echo-load.js';
import { encodeMarker, fillTemplate, findMarker } from './payload.js';
import { epochNow, type FromGroup, type GroupSpec, type OpenReport, type PubsubReport, type PubsubSpec } from './protocol.js';
import { SelfMeter } from './self-meter.js';

/** How long a subscriber waits for the frame that acknowledges its subscription. */
const SUBSCRIBE_ACK_MS = 5_000;
/** Missing sequence numbers remembered per stream, at most (beyond: counted as lost only). */
const MAX_MISSING = 10_000;
const LGP = Buffer.from('"lgp":');
const HELLO = Buffer.from('{"hello"');

interface Stream {
  next: number;
  missing: Set<number>;
}

interface Subscriber {
  id: number;
  ws: WebSocket;
  topic: string;
  streams: Map<string, Stream>;
  received: number;
  duplicates: number;
  gaps: number;
  maxGap: number;
}

export class PubsubGroup {
  private readonly sockets: WebSocket[] = [];
  private readonly errors: Record<string, number> = {};
  private readonly closeCodes: Record<string, number> = {};
  private readonly connector: Connector;
  private readonly histogram = newHistogram();
  private readonly subs: Subscriber[] = [];
  private readonly pubs: WebSocket[] = [];
  private ps: PubsubSpec | null = null;
  private running = false;
  private stopped = false;
  private otherFrames = 0;
  private unacknowledged = 0;
  private lastAt = 0;
  private wake: (() => void) | null = null;

  /** Pub/sub groups post nothing but their answers, which group-entry.ts sends. */
  constructor(spec: GroupSpec, _post: (msg: FromGroup) => void) {
    this.connector = new Connector(spec, this.errors);
  }

  openAll(): Promise<OpenReport> {
    return this.connector.openAll(
      (ws) => this.sockets.push(ws),
      (_ws, code) => {
        this.closeCodes[code] = (this.closeCodes[code] ?? 0) + 1;
      },
    );
  }

  /** Subscribes the first `subscribers` connections, each to topics[id % T]; resolves when each is acknowledged by a frame (or timed out). */
  async subscribe(ps: PubsubSpec): Promise<void> {
    this.ps = ps;
    const subCount = Math.min(ps.subscribers, this.sockets.length);
    const acks: Promise<void>[] = [];
    for (let j = 0; j < this.sockets.length; j++) {
      const ws = this.sockets[j] as WebSocket;
      if (j >= subCount) {
        this.pubs.push(ws);
        continue; // a publisher's own frames (echoes of its commands, replies) are not measured
      }
      const id = ps.firstSubscriber + j;
      const sub: Subscriber = { id, ws, topic: ps.topics[id % ps.topics.length] ?? '', streams: new Map(), received: 0, duplicates: 0, gaps: 0, maxGap: 0 };
      this.subs.push(sub);
      acks.push(
        new Promise<void>((resolve) => {
          const timer = setTimeout(() => (this.unacknowledged++, resolve()), SUBSCRIBE_ACK_MS);
          // The first frame after the command acknowledges it, except a protocol v1 greeting.
          const onAck = (data: Buffer): void => {
            if (data.subarray(0, HELLO.length).equals(HELLO)) return;
            ws.off('message', onAck);
            clearTimeout(timer);
            resolve();
          };
          ws.on('message', onAck);
        }),
      );
      ws.on('message', (data: Buffer) => this.onFrame(sub, data));
      ws.send(fillTemplate(ps.subscribeTemplate, sub.topic));
    }
    await Promise.all(acks);
  }

  private onFrame(sub: Subscriber, data: Buffer): void {
    if (!this.running) return;
    const m = data.indexOf(LGP) < 0 ? null : findMarker(data.toString());
    if (m === null) {
      this.otherFrames++;
      return;
    }
    const now = epochNow();
    const key = `${m.publisher}:${m.topic}`;
    let s = sub.streams.get(key);
    if (s === undefined) sub.streams.set(key, (s = { next: 1, missing: new Set() }));
    if (m.seq === s.next) {
      s.next++;
    } else if (m.seq > s.next) {
      const gap = m.seq - s.next;
      sub.gaps++;
      if (gap > sub.maxGap) sub.maxGap = gap;
      for (let q = s.next; q < m.seq && s.missing.size < MAX_MISSING; q++) s.missing.add(q);
      s.next = m.seq + 1;
    } else if (!s.missing.delete(m.seq)) {
      sub.duplicates++;
      return;
    }
    sub.received++;
    this.lastAt = now;
    this.histogram.recordValue(Math.min(MAX_LATENCY_US, Math.max(1, Math.round((now - m.at) * 1000))));
  }

  /** Publishes for durationMs on the schedule, waits tailMs for deliveries, closes every connection with 1000. */
  async run(): Promise<PubsubReport> {
    const ps = this.ps;
    if (ps === null) throw new Error('bench group: pubsub-run before pubsub-subscribe');
    this.running = true;
    const meter = new SelfMeter();
    const startedAt = epochNow();
    const published: Record<string, number> = Object.fromEntries(ps.topics.map((t) => [t, 0]));
    let publishFailed = 0;
    if (this.pubs.length > 0 && ps.ratePerPublisher > 0 && !this.stopped) {
      const interval = 1000 / ps.ratePerPublisher;
      const seqs = this.pubs.map(() => new Map<string, number>());
      const sentCount = this.pubs.map(() => 0);
      const stopAt = startedAt + ps.durationMs;
      // Publishers are offset within one interval so that their sends interleave.
      const offset = (k: number): number => (k * interval) / this.pubs.length;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        const pump = (): void => {
          const now = epochNow();
          let nextDue = Infinity;
          for (let k = 0; k < this.pubs.length; k++) {
            for (;;) {
              const at = startedAt + offset(k) + (sentCount[k] as number) * interval;
              if (at > now || at >= stopAt || this.stopped) {
                if (at < stopAt) nextDue = Math.min(nextDue, at);
                break;
              }
              const ws = this.pubs[k] as WebSocket;
              const topic = ps.topics[((sentCount[k] as number) + k) % ps.topics.length] ?? '';
              const seqMap = seqs[k] as Map<string, number>;
              const seq = (seqMap.get(topic) ?? 0) + 1;
              seqMap.set(topic, seq);
              sentCount[k] = (sentCount[k] as number) + 1;
              if (ws.readyState !== WebSocket.OPEN) {
                publishFailed++;
                continue;
              }
              published[topic] = (published[topic] ?? 0) + 1;
              ws.send(fillTemplate(ps.publishTemplate, topic, encodeMarker({ publisher: ps.firstPublisher + k, seq, at, topic })));
            }
          }
          if (nextDue === Infinity || this.stopped) return resolve();
          setTimeout(pump, Math.max(0, nextDue - epochNow()));
        };
        pump();
      });
    } else if (!this.stopped) {
      // Subscribers only: the publishers are in other groups; wait out the window.
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        setTimeout(resolve, ps.durationMs);
      });
    }
    if (!this.stopped) {
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        setTimeout(resolve, ps.tailMs);
      });
    }
    this.running = false;
    const client = meter.stop();
    await closeAll(this.sockets, 1000, 2_000);
    return {
      published,
      publishFailed,
      subscribers: this.subs.map((s) => ({ id: s.id, topic: s.topic, received: s.received, duplicates: s.duplicates, gaps: s.gaps, maxGap: s.maxGap })),
      unacknowledged: this.unacknowledged,
      otherFrames: this.otherFrames,
      histogram: hdr.encodeIntoCompressedBase64(this.histogram),
      startedAt,
      endedAt: Math.max(this.lastAt, startedAt + ps.durationMs),
      client,
      interrupted: this.stopped,
      closeCodes: { ...this.closeCodes },
      errors: { ...this.errors },
    };
  }

  /** The user interrupted: stop publishing and waiting; run() closes with 1000 and reports. */
  stop(): void {
    this.stopped = true;
    this.connector.stop();
    this.wake?.();
  }

  terminateAll(): void {
    for (const ws of this.sockets) ws.terminate();
  }
}
