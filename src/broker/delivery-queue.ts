/**
 * Hands received publications to the handler off the Redis read path.
 *
 * The Redis client calls its pub/sub listener synchronously while parsing a
 * socket chunk; a handler that throws or runs long there would stall or
 * break the parse of every later message. So the listener only appends here,
 * and a setImmediate turn delivers the batch in arrival order (per-topic
 * order is arrival order: Redis sends one channel's messages in order on one
 * connection). The queue is bounded: past `max` waiting publications a new
 * one is dropped and counted (Centrifugo drops on a full worker buffer rather
 * than block the read loop: redis_pubsub_shared.go); the sequencer's gap
 * detection fills what was dropped on history topics.
 */

import type { Publication } from './broker.js';

export class DeliveryQueue {
  private items: Publication[] = [];
  private scheduled = false;
  private readonly max: number;
  private readonly deliver: (pub: Publication) => void;
  private readonly onDrop: () => void;
  private readonly onHandlerError: (err: unknown) => void;

  constructor(opts: { max: number; deliver: (pub: Publication) => void; onDrop: () => void; onHandlerError: (err: unknown) => void }) {
    this.max = opts.max;
    this.deliver = opts.deliver;
    this.onDrop = opts.onDrop;
    this.onHandlerError = opts.onHandlerError;
  }

  get length(): number {
    return this.items.length;
  }

  push(pub: Publication): void {
    if (this.items.length >= this.max) {
      this.onDrop();
      return;
    }
    this.items.push(pub);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.scheduled = false;
    const batch = this.items;
    this.items = [];
    for (const pub of batch) {
      try {
        this.deliver(pub);
      } catch (err) {
        this.onHandlerError(err);
      }
    }
  }
}
