/**
 * The shard's topic registry: which of its sockets subscribe to what, and the
 * local side of a publication (the fan-out to this shard's subscribers).
 *
 * The registry also tells the primary when this shard's interest in a topic
 * begins (first local subscriber) and ends (last one gone), so that the node
 * subscribes to the broker only for topics someone here listens to.
 */
import type { Payload } from '../app.js';
import type { PublishPayload } from '../protocol.js';
import type { SocketConnection } from './connection.js';
import { Fanout } from './fanout.js';

export interface InterestListener {
  /** `topic` gained its first local subscriber (true) or lost its last (false). */
  interest(topic: string, on: boolean): void;
}

export class TopicRegistry {
  private readonly topics = new Map<string, Set<SocketConnection>>();
  readonly fanout = new Fanout();

  constructor(private readonly listener: InterestListener | null = null) {}

  get size(): number {
    return this.topics.size;
  }

  has(topic: string): boolean {
    return this.topics.has(topic);
  }

  subscribers(topic: string): ReadonlySet<SocketConnection> | undefined {
    return this.topics.get(topic);
  }

  subscribe(conn: SocketConnection, topic: string): void {
    let subs = this.topics.get(topic);
    if (subs === undefined) {
      this.topics.set(topic, (subs = new Set()));
      this.listener?.interest(topic, true);
    }
    subs.add(conn);
  }

  unsubscribe(conn: SocketConnection, topic: string): void {
    const subs = this.topics.get(topic);
    if (subs === undefined) return;
    subs.delete(conn);
    if (subs.size === 0) {
      this.topics.delete(topic);
      this.listener?.interest(topic, false);
    }
  }

  /** Writes a publication to every local subscriber of `topic`, through each one's write queue. */
  deliver(topic: string, payload: PublishPayload | Payload, isBinary: boolean): void {
    const subs = this.topics.get(topic);
    if (subs === undefined) return;
    // uWS.js converts a string to UTF-8 on every send: do it once for the whole fan-out.
    this.fanout.publish(subs, typeof payload === 'string' && subs.size > 1 ? Buffer.from(payload) : payload, isBinary);
  }

  /** Writes the publications still due to `conn` now, so that its own send can follow them. */
  pull(conn: SocketConnection): void {
    this.fanout.pull(conn);
  }
}
