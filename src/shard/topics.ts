/**
 * The shard's topic registry: which of its sockets subscribe to what, and the
 * local side of a publication (the fan-out to this shard's subscribers).
 *
 * A socket that subscribes to a history topic first joins as a catch-up
 * member (recovery.ts): publications for it are held until its recovery has
 * been written, then it becomes an ordinary subscriber.
 *
 * The registry tells the primary when this shard's interest in a topic begins
 * (first member) and ends (last one gone), so that the node subscribes to the
 * broker only for topics someone here listens to.
 */
import type { Payload } from '../app.js';
import type { PublishPayload } from '../protocol.js';
import type { SocketConnection } from './connection.js';
import { Fanout } from './fanout.js';
import type { Catchup } from './recovery.js';

export interface InterestListener {
  /** `topic` gained its first local member (true) or lost its last (false). */
  interest(topic: string, on: boolean): void;
}

export class TopicRegistry {
  private readonly topics = new Map<string, Set<SocketConnection>>();
  private readonly catchups = new Map<string, Set<Catchup>>();
  /** The last offset this shard received per history topic (while it has members). */
  private readonly lastOffset = new Map<string, number>();
  readonly fanout = new Fanout();

  constructor(private readonly listener: InterestListener | null = null) {}

  get size(): number {
    return this.topics.size;
  }

  /** Every socket subscribed to `topic`, catching up or not. */
  members(topic: string): SocketConnection[] {
    return [...(this.topics.get(topic) ?? []), ...[...(this.catchups.get(topic) ?? [])].map((c) => c.conn)];
  }

  private count(topic: string): number {
    return (this.topics.get(topic)?.size ?? 0) + (this.catchups.get(topic)?.size ?? 0);
  }

  subscribe(conn: SocketConnection, topic: string): void {
    const first = this.count(topic) === 0;
    let subs = this.topics.get(topic);
    if (subs === undefined) this.topics.set(topic, (subs = new Set()));
    subs.add(conn);
    if (first) this.listener?.interest(topic, true);
  }

  /** Joins as a catch-up member: publications are held in `c` until release(). */
  subscribeCatchup(c: Catchup): void {
    const first = this.count(c.topic) === 0;
    let set = this.catchups.get(c.topic);
    if (set === undefined) this.catchups.set(c.topic, (set = new Set()));
    set.add(c);
    if (first) this.listener?.interest(c.topic, true);
  }

  unsubscribe(conn: SocketConnection, topic: string): void {
    const had = this.count(topic);
    if (had === 0) return;
    this.topics.get(topic)?.delete(conn);
    const set = this.catchups.get(topic);
    if (set !== undefined) for (const c of set) if (c.conn === conn) set.delete(c);
    if (this.topics.get(topic)?.size === 0) this.topics.delete(topic);
    if (set?.size === 0) this.catchups.delete(topic);
    if (this.count(topic) === 0) {
      this.lastOffset.delete(topic);
      this.listener?.interest(topic, false);
    }
  }

  /** Writes a publication to every local member of `topic`, through each one's write queue. */
  deliver(topic: string, payload: PublishPayload | Payload, isBinary: boolean, offset?: number): void {
    if (offset !== undefined && this.count(topic) > 0) this.lastOffset.set(topic, offset);
    const subs = this.topics.get(topic);
    if (subs !== undefined) {
      // uWS.js converts a string to UTF-8 on every send: do it once for the whole fan-out.
      this.fanout.publish(subs, typeof payload === 'string' && subs.size > 1 ? Buffer.from(payload) : payload, isBinary);
    }
    const catching = this.catchups.get(topic);
    if (catching === undefined) return;
    for (const c of [...catching]) {
      c.offer(payload, isBinary, offset);
      if (c.caughtUp(offset)) this.promote(c);
    }
  }

  /** The catch-up member's recovery is written: it gets what was held after `top`, and joins the fan-out once live delivery has passed `top`. */
  release(c: Catchup, top: number): void {
    if (!this.catchups.get(c.topic)?.has(c)) return; // unsubscribed or closed meanwhile
    c.release(top);
    if (c.caughtUp(this.lastOffset.get(c.topic))) this.promote(c);
  }

  private promote(c: Catchup): void {
    const set = this.catchups.get(c.topic);
    if (set?.delete(c) !== true) return;
    if (set.size === 0) this.catchups.delete(c.topic);
    let subs = this.topics.get(c.topic);
    if (subs === undefined) this.topics.set(c.topic, (subs = new Set()));
    subs.add(c.conn);
  }

  /** Writes the publications still due to `conn` now, so that its own send can follow them. */
  pull(conn: SocketConnection): void {
    this.fanout.pull(conn);
  }
}
