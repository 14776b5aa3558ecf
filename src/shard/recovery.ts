/**
 * Subscribing to a history topic, with or without recovery, in the order that
 * loses nothing and repeats nothing (Centrifugo's order):
 *   1. the socket joins the topic as a catch-up member: live publications for
 *      it are held, and the node's broker subscription is made live;
 *   2. the primary reads the history after `since` (once that subscription
 *      is live) with the topic's top position, in one atomic step;
 *   3. recovered iff the epoch is the client's and the history holds every
 *      offset from since + 1 to the top; then those publications are written,
 *      paced so the socket's write queue never overflows (a replay larger
 *      than backpressure.maxQueueBytes would otherwise earn a 1008). Never a
 *      partial replay: if anything is missing, nothing is replayed;
 *   4. the result goes to the app (which replies to the client), and one turn
 *      later the held live publications after the top follow, and the socket
 *      becomes an ordinary subscriber.
 */
import type { PublicationFrame, StreamPosition } from '../app.js';
import type { HistoryPage } from '../broker/broker.js';
import type { PublishPayload } from '../protocol.js';
import type { SocketConnection } from './connection.js';

interface Held {
  payload: PublishPayload | string | Uint8Array | ArrayBuffer;
  binary: boolean;
  offset: number | undefined;
}

/** While a replay waits, how often it checks the socket's queue again (ms). */
const REPLAY_WAIT_MS = 5;
/** A client that reads nothing of its replay for this long gets a retryable error instead of holding the subscribe (and a drain) forever. */
const REPLAY_STALL_MS = 10_000;

export class Catchup {
  private held: Held[] | null = [];
  private skipUpTo = Number.POSITIVE_INFINITY;

  constructor(
    readonly conn: SocketConnection,
    readonly topic: string,
  ) {}

  offer(payload: Held['payload'], binary: boolean, offset: number | undefined): void {
    if (this.held !== null) {
      this.held.push({ payload, binary, offset });
      return;
    }
    if (offset === undefined || offset > this.skipUpTo) this.conn.send(payload, binary);
  }

  /** Writes what was held after `top`; from now on only publications after `top` pass. */
  release(top: number): void {
    const held = this.held ?? [];
    this.held = null;
    this.skipUpTo = top;
    for (const h of held) if (h.offset === undefined || h.offset > top) this.conn.send(h.payload, h.binary);
  }

  /** True once live delivery has reached the top: the socket may join the ordinary fan-out. */
  caughtUp(lastDelivered: number | undefined): boolean {
    return this.held === null && lastDelivered !== undefined && lastDelivered >= this.skipUpTo;
  }
}

/** Step 3: whether the page is a complete recovery from `since`. */
export function isRecovered(since: StreamPosition, page: HistoryPage): boolean {
  if (page.top.epoch !== since.epoch) return false;
  if (since.offset > page.top.offset) return false;
  if (since.offset === page.top.offset) return true;
  const pubs = page.publications;
  if (pubs.length === 0) return false;
  return pubs[0]?.offset === since.offset + 1 && pubs[pubs.length - 1]?.offset === page.top.offset && pubs.length === page.top.offset - since.offset;
}

/**
 * Writes the replay, keeping the socket's queue under half its bound: the
 * client reads it at its own pace. Returns false if the socket closed first,
 * or read nothing for REPLAY_STALL_MS.
 */
export async function replay(
  conn: SocketConnection,
  page: HistoryPage,
  frame: (pub: PublicationFrame) => { payload: string | Uint8Array | ArrayBuffer; binary: boolean },
  maxQueueBytes: number,
): Promise<boolean> {
  for (const pub of page.publications) {
    const waitingSince = performance.now();
    while (conn.bufferedBytes > maxQueueBytes / 2) {
      if (conn.closed || performance.now() - waitingSince > REPLAY_STALL_MS) return false;
      await new Promise((r) => setTimeout(r, REPLAY_WAIT_MS));
    }
    if (conn.closed) return false;
    const f = frame({ topic: pub.topic, data: pub.data, binary: pub.binary, offset: pub.offset, epoch: pub.epoch });
    conn.send(f.payload, f.binary);
  }
  return true;
}
