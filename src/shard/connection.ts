/**
 * One client socket: the app's `conn` object and its write queue.
 *
 *   conn.send(msg) ──► JS queue (FIFO, ≤ maxQueueBytes) ──► uWS buffer (≤ HIGH_WATER_BYTES) ──► kernel ──► client
 *                      used only while uWS is backpressured     └──── at most maxUnackedBytes not yet confirmed read ───┘
 *                      or the unacknowledged window is full
 *
 * Why the window: on Linux the kernel's socket buffers grow to megabytes for a
 * client that has stopped reading before uWS ever sees a short write, so a
 * server that trusts the kernel goes on writing to it (at full cost) until then.
 * Every compliant client answers a ping as it reads the stream, and a ping is
 * read after everything sent before it: so once half the window is out we ping
 * with the byte count as payload, and the pong echoing it confirms that much.
 * A client that does not read never answers, its window fills, its messages
 * wait in the JS queue, and the queue bound cuts it off (1008), whatever the
 * kernel would absorb. Like TCP's slow start, the window starts at
 * INITIAL_WINDOW_BYTES and doubles with each confirmation up to
 * maxUnackedBytes: a reader soon gets the whole window, and a client that
 * never reads costs at most INITIAL_WINDOW_BYTES of writes.
 *
 * Invariants:
 * - While the JS queue is not empty nothing bypasses it, so every sender's
 *   messages (own handler, timers, publishes from any shard) keep their order.
 * - We only call ws.send() while uWS holds less than HIGH_WATER_BYTES, and uWS's
 *   own maxBackpressure is set far above that, so uWS never drops a message
 *   (send() result 2) and never drops the close frame of ws.end().
 * - The queue is flushed on uWS's `drain` event and, because that event is
 *   edge-triggered and can be missed (uWS.js #569, uWebSockets #1047), by the
 *   shard's poll of every watched socket. Both re-check getBufferedAmount().
 * - A socket is ended (close frame) only once its queue is empty and uWS's
 *   buffer is under HIGH_WATER_BYTES, so the close frame goes out after the data.
 * - State is lazy: an idle socket holds no queue array and no topic set.
 */
import type { Connection, OffloadOptions, Payload, PublishOutcome, StreamPosition, SubscribeResult } from '../app.js';
import { CloseCode, ErrorCode, closeCodeFor, isSendableCloseCode, truncateReason } from '../errors.js';
import { NOT_CLOSED_BY_SERVER, type ShardMeter } from '../metrics/shard-meter.js';
import type { Job } from './fanout.js';
import type { UWS } from './uws.js';

/** Bytes uWS may buffer for one socket before sends wait in the JS queue. */
export const HIGH_WATER_BYTES = 64 * 1024;
/**
 * Where a socket's acknowledged window starts (capped by maxUnackedBytes): about
 * TCP's own initial window of 10 segments (RFC 6928). A client that never reads
 * costs this much in writes; a reader has 1 MiB after six pongs. 64 KiB cost
 * 13% more server CPU in a storm over 1,000 non-readers (docs/RELIABILITY.md).
 */
export const INITIAL_WINDOW_BYTES = 16 * 1024;
/** Payload of the drain's barrier ping (Shard.beginDrain): its pong means the client's earlier requests were read. */
export const DRAIN_BARRIER = 'shardline-drain';
/** uWS's own limit; sends above it would be dropped by uWS, so it sits far above HIGH_WATER_BYTES. */
export const UWS_MAX_BACKPRESSURE = 64 * 1024 * 1024;

export interface ShardStats {
  /** Messages that had to wait in a JS queue (the socket was backpressured). */
  messagesQueued: number;
  messagesDropped: number;
  messagesFlushed: number;
  slowConsumerCloses: number;
  handlerErrors: number;
}

/** What a connection needs from the shard that owns it. */
export interface ConnectionHost {
  readonly shard: number;
  /** This node's id in the fleet. */
  readonly node: string;
  readonly limits: { readonly maxPayloadBytes: number; readonly maxMessagesPerSecond: number };
  readonly maxQueueBytes: number;
  readonly dropNewest: boolean;
  /** backpressure.maxUnackedBytes; 0 = off. */
  readonly maxUnackedBytes: number;
  readonly stats: ShardStats;
  /** Metrics counters of this shard (shared memory). */
  readonly meter: ShardMeter;
  /** True once the drain has begun: flushed messages are counted from then on. */
  readonly draining: boolean;
  /** Puts a socket on the poll list (queue not empty, or waiting to end). */
  watch(conn: SocketConnection): void;
  unwatch(conn: SocketConnection): void;
  subscribe(conn: SocketConnection, topic: string, since: StreamPosition | undefined): Promise<SubscribeResult>;
  unsubscribe(conn: SocketConnection, topic: string): void;
  publish(topic: string, data: Payload, isBinary: boolean, key: string | undefined): Promise<PublishOutcome>;
  slowConsumer(conn: SocketConnection, queuedBytes: number): void;
  /** Writes the publications still waiting in the fan-out for this socket, so that its own send can follow them now. */
  pullFanout(conn: SocketConnection): void;
  /** Runs an offload task; tracked as in flight for the socket until the app has seen the result. */
  offload(conn: SocketConnection | null, task: string, payload: unknown, opts?: OffloadOptions): Promise<unknown>;
}

export interface UserData {
  data: unknown;
  conn: SocketConnection | null;
  /** The subprotocol selected at the upgrade. */
  protocol: string;
}

interface Pending {
  data: Payload;
  binary: boolean;
  bytes: number;
}

function byteLength(data: Payload): number {
  return typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength;
}

export class SocketConnection implements Connection {
  readonly id: string;
  data: unknown;
  readonly shard: number;
  readonly node: string;
  readonly protocol: string;

  /** Null once uWS reported the socket closed: it must not be touched after that. */
  ws: UWS.WebSocket<UserData> | null;
  /** Hooks (message, open) of this socket still running. */
  inflight = 0;
  /** Set by the drain: end with this code once the barrier passed, in-flight hooks are done and the queue is flushed. */
  drainClose: { code: number; reason: string } | null = null;
  /** Set by the drain until the pong to its barrier ping arrives (or the barrier times out). */
  awaitingBarrier = false;
  /** Set by conn.end(): end once the queue is flushed. */
  appClose: { code: number; reason: string } | null = null;
  topics: Set<string> | null = null;
  /** Publications waiting in the shard's fan-out for this socket, and where (kept by the Fanout). */
  pendingFanout = 0;
  fanoutJobs: Job[] | null = null;
  fanoutHead = 0;
  /** The close code shardline sent (-1: cut without a frame), for the metrics; NOT_CLOSED_BY_SERVER until then. */
  sentClose = NOT_CLOSED_BY_SERVER;
  /** Set while send() pulls this socket's waiting publications ahead (see send()). */
  private pulling = false;

  /** limits.maxMessagesPerSecond: the current one-second window and its count. */
  private rateWindow = 0;
  private rateCount = 0;
  private queue: Pending[] | null = null;
  private head = 0;
  private queuedBytes = 0;
  /** Set when uWS buffered part of a send; direct sends then re-check getBufferedAmount(). */
  private pressured = false;
  /** Bytes handed to uWS, and how many of them the client confirmed reading (backpressure.maxUnackedBytes). */
  private sentBytes = 0;
  private ackedBytes = 0;
  /** sentBytes when the outstanding probe ping went out; -1 while none is outstanding. */
  private probeMark = -1;
  /** The acknowledged window now: INITIAL_WINDOW_BYTES, doubled per confirmation up to maxUnackedBytes; 0 = off. */
  private window: number;
  private ended = false;
  private readonly host: ConnectionHost;

  constructor(host: ConnectionHost, ws: UWS.WebSocket<UserData>, id: string, data: unknown) {
    this.host = host;
    this.ws = ws;
    this.id = id;
    this.data = data;
    this.shard = host.shard;
    this.node = host.node;
    this.protocol = ws.getUserData().protocol;
    this.window = Math.min(INITIAL_WINDOW_BYTES, host.maxUnackedBytes);
  }

  get closed(): boolean {
    return this.ws === null || this.ended || this.appClose !== null;
  }

  get bufferedBytes(): number {
    return this.queuedBytes + (this.ws !== null && !this.ended ? this.ws.getBufferedAmount() : 0);
  }

  /** True once the close frame was sent (or the socket is gone). */
  get closeSent(): boolean {
    return this.ws === null || this.ended;
  }

  get queuedMessages(): number {
    return this.queue === null ? 0 : this.queue.length - this.head;
  }

  /** Counts one incoming message against a fixed one-second window; false once over `limit`. */
  withinRate(limit: number): boolean {
    const window = Math.floor(performance.now() / 1000);
    if (window !== this.rateWindow) {
      this.rateWindow = window;
      this.rateCount = 0;
    }
    return ++this.rateCount <= limit;
  }

  send(data: Payload, isBinary = false): boolean {
    const ws = this.ws;
    if (ws === null || this.ended || this.appClose !== null) {
      this.host.stats.messagesDropped++;
      return false;
    }
    if (this.pendingFanout === 0) return this.write(ws, data, isBinary);
    // Publications still due to this socket go first, now, then this message;
    // a drain waiting for them to end the socket waits for this one too.
    this.pulling = true;
    try {
      this.host.pullFanout(this);
    } finally {
      this.pulling = false;
    }
    if (this.ws === null || this.ended) {
      this.host.stats.messagesDropped++; // a publication overflowed the queue: cut off as a slow consumer
      return false;
    }
    const written = this.write(this.ws, data, isBinary);
    if (this.drainClose !== null) this.maybeEnd();
    return written;
  }

  /** The fan-out writes this socket's waiting publications inside one cork: one write(2) for all of them. */
  corkFanout(write: () => void): void {
    const ws = this.ws;
    if (ws === null || this.ended) write();
    else ws.cork(write);
  }

  /** A publication the shard's fan-out held for this socket, in its turn or pulled ahead. Published before any end() came, so it still goes out. */
  deliverFanout(data: Payload, isBinary: boolean): void {
    const ws = this.ws;
    if (ws === null || this.ended) {
      this.host.stats.messagesDropped++;
      return;
    }
    this.write(ws, data, isBinary);
    if (this.pendingFanout === 0 && !this.pulling && (this.appClose !== null || this.drainClose !== null)) this.maybeEnd();
  }

  private write(ws: UWS.WebSocket<UserData>, data: Payload, isBinary: boolean): boolean {
    const bytes = byteLength(data); // once, for the window, the queue and the metrics
    if (this.queue === null && this.windowOpen && (!this.pressured || ws.getBufferedAmount() < HIGH_WATER_BYTES)) {
      const result = ws.send(data, isBinary);
      if (result !== 2) {
        this.pressured = result === 0; // 0: uWS buffered part of it
        this.host.meter.sent(bytes);
        this.wrote(ws, bytes);
        return true;
      }
      // 2: uWS refused it (cannot happen while we stay under its limit); keep it in our queue.
    }
    return this.enqueue(data, isBinary, bytes);
  }

  /** False while a window's worth is out that the client has not confirmed reading. */
  private get windowOpen(): boolean {
    return this.window === 0 || this.sentBytes - this.ackedBytes < this.window;
  }

  /** Counts bytes handed to uWS; once half the window is unconfirmed, probes with a ping. */
  private wrote(ws: UWS.WebSocket<UserData>, bytes: number): void {
    const window = this.window;
    if (window === 0) return;
    this.sentBytes += bytes;
    if (this.probeMark < 0 && this.sentBytes - this.ackedBytes >= window / 2) {
      this.probeMark = this.sentBytes;
      ws.ping(String(this.probeMark));
    }
  }

  /**
   * A pong: if it echoes our outstanding probe, the client has read everything
   * sent before it. Pongs to uWS's idle pings (empty) and unsolicited ones are ignored.
   */
  onPong(message: ArrayBuffer): void {
    const ws = this.ws;
    if (ws === null || this.ended || message.byteLength > 20) return;
    const text = Buffer.from(message).toString('latin1');
    if (text === DRAIN_BARRIER) return this.passBarrier();
    if (this.probeMark < 0 || text !== String(this.probeMark)) return;
    this.ackedBytes = this.probeMark;
    this.probeMark = -1;
    this.window = Math.min(this.window * 2, this.host.maxUnackedBytes);
    // Probe again at once if half a window is still out (a message larger than
    // the window can keep it closed): a closed window must always have a probe out.
    this.wrote(ws, 0);
    if (this.queue !== null) this.flush();
  }

  private enqueue(data: Payload, binary: boolean, bytes: number): boolean {
    if (this.queuedBytes + bytes > this.host.maxQueueBytes) {
      if (this.host.dropNewest) {
        this.host.stats.messagesDropped++;
        return false;
      }
      this.host.stats.messagesDropped++; // this message, plus the queue discarded by the close
      this.host.slowConsumer(this, this.queuedBytes + bytes);
      this.hardEnd(closeCodeFor[ErrorCode.SLOW_CONSUMER], 'slow consumer');
      return false;
    }
    if (this.queue === null) {
      this.queue = [];
      this.head = 0;
      this.host.watch(this);
    }
    this.queue.push({ data, binary, bytes });
    this.queuedBytes += bytes;
    this.host.stats.messagesQueued++;
    return true;
  }

  /** Writes queued messages while uWS has room; then ends the socket if it is waiting to. */
  flush(): void {
    const ws = this.ws;
    if (ws === null || this.ended) return;
    if (this.queue !== null && this.windowOpen) ws.cork(() => this.writeQueued(ws));
    this.maybeEnd();
  }

  private writeQueued(ws: UWS.WebSocket<UserData>): void {
    const queue = this.queue;
    if (queue === null) return;
    while (this.head < queue.length && this.windowOpen && ws.getBufferedAmount() < HIGH_WATER_BYTES) {
      const item = queue[this.head] as Pending;
      if (ws.send(item.data, item.binary) === 2) break;
      queue[this.head] = undefined as unknown as Pending; // let the payload be collected
      this.head++;
      this.queuedBytes -= item.bytes;
      this.host.meter.sent(item.bytes);
      this.wrote(ws, item.bytes);
      if (this.host.draining) this.host.stats.messagesFlushed++;
    }
    if (this.head === queue.length) {
      this.queue = null;
      this.head = 0;
      this.queuedBytes = 0;
      this.pressured = true; // the last write may have left bytes in uWS
    } else if (this.head > 1024 && this.head * 2 > queue.length) {
      queue.splice(0, this.head);
      this.head = 0;
    }
  }

  /** True when nothing waits in our queue or the fan-out and uWS is under the high-water mark. */
  private get flushed(): boolean {
    return this.queue === null && this.pendingFanout === 0 && this.ws !== null && this.ws.getBufferedAmount() < HIGH_WATER_BYTES;
  }

  /**
   * The drain, for this socket: ping it, and end it (maybeEnd) only once the
   * pong is back. A client answers a ping after everything it sent before it,
   * so by the pong every request the client sent before it saw the ping has
   * been read, and holds the close frame back while it is in flight. Without
   * the barrier, a request reaching the kernel after the shard's last read
   * of the socket and before its end() met the close frame unread.
   */
  startDrain(frame: { code: number; reason: string }, barrier: boolean): void {
    this.drainClose = frame;
    const ws = this.ws;
    if (barrier && ws !== null && !this.ended && this.appClose === null) {
      this.awaitingBarrier = true;
      ws.ping(DRAIN_BARRIER);
    }
    this.maybeEnd();
  }

  /** The barrier's pong arrived, or the shard stopped waiting for it. */
  passBarrier(): void {
    if (!this.awaitingBarrier) return;
    this.awaitingBarrier = false;
    this.maybeEnd();
  }

  /**
   * Ends the socket with a close frame when it is waiting to and may:
   * an app's end() waits for the queue; the drain also waits for its barrier and in-flight hooks.
   */
  maybeEnd(): void {
    if (this.ws === null || this.ended) return;
    const close = this.appClose ?? (this.drainClose !== null && this.inflight === 0 && !this.awaitingBarrier ? this.drainClose : null);
    if (close === null) {
      if (this.queue === null) this.host.unwatch(this);
      return;
    }
    if (!this.flushed) {
      this.host.watch(this);
      return;
    }
    this.ended = true;
    this.host.unwatch(this);
    this.sentClose = close.code;
    this.ws.end(close.code, close.reason); // uWS calls our close handler from inside end()
  }

  get limits(): { readonly maxPayloadBytes: number; readonly maxMessagesPerSecond: number } {
    return this.host.limits;
  }

  async subscribe(topic: string, opts: { since?: StreamPosition | undefined } = {}): Promise<SubscribeResult> {
    if (this.closed) return { ok: false, error: { code: ErrorCode.PUBLISH_FAILED, message: 'the socket is closed', retryable: false } };
    if (this.topics?.has(topic) === true) this.host.unsubscribe(this, topic); // subscribing again restarts it (a new `since`)
    (this.topics ??= new Set()).add(topic);
    const result = await this.host.subscribe(this, topic, opts.since);
    if (!result.ok) this.topics?.delete(topic);
    return result;
  }

  unsubscribe(topic: string): void {
    if (this.topics?.delete(topic) === true) this.host.unsubscribe(this, topic);
  }

  publish(topic: string, data: Payload, isBinary = false, opts: { key?: string | undefined } = {}): Promise<PublishOutcome> {
    return this.host.publish(topic, data, isBinary, opts.key);
  }

  offload<T = unknown>(task: string, payload?: unknown, opts?: OffloadOptions): Promise<T> {
    return this.host.offload(this, task, payload, opts) as Promise<T>;
  }

  end(code: number = CloseCode.NORMAL, reason = ''): void {
    if (!isSendableCloseCode(code)) throw new RangeError(`conn.end(): ${code} is not a close code a server may send (1000-1003, 1007-1014, 3000-4999)`);
    if (this.closed) return;
    this.appClose = { code, reason: truncateReason(reason) };
    this.maybeEnd();
  }

  /**
   * Ends at once, discarding the queue (counted as dropped). The close frame is
   * sent when uWS can take it; a client that is not reading may see only the
   * TCP close.
   */
  hardEnd(code: number, reason: string): void {
    const ws = this.ws;
    if (ws === null || this.ended) return;
    this.discardQueue();
    this.ended = true;
    this.host.unwatch(this);
    if (ws.getBufferedAmount() < UWS_MAX_BACKPRESSURE) {
      this.sentClose = code;
      ws.end(code, truncateReason(reason));
    } else {
      this.sentClose = -1;
      ws.close();
    }
  }

  /** Closes the TCP connection with no close frame (forced drain). */
  abort(): void {
    const ws = this.ws;
    if (ws === null) return;
    this.discardQueue();
    this.ended = true;
    this.host.unwatch(this);
    this.sentClose = -1;
    ws.close();
  }

  private discardQueue(): void {
    this.host.stats.messagesDropped += this.queuedMessages;
    this.queue = null;
    this.head = 0;
    this.queuedBytes = 0;
  }

  /** uWS reported the socket closed: whatever is still queued can no longer be delivered. */
  onClosed(): void {
    this.discardQueue();
    this.ws = null;
    this.ended = true;
    this.host.unwatch(this);
    if (this.topics !== null) {
      for (const topic of this.topics) this.host.unsubscribe(this, topic);
      this.topics = null;
    }
  }

  /** A hook of this socket settled. */
  hookDone(): void {
    this.inflight--;
    if (this.inflight === 0 && this.drainClose !== null) this.maybeEnd();
  }
}
