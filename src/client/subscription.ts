/**
 * One topic the app subscribed to, and its position in the topic's stream.
 *
 * The position is the offset and epoch of the last publication handed to the
 * app, updated *after* the handler ran (so a resubscribe after a crash of the
 * link asks for what the app has not seen). On every (re)connect the client
 * resubscribes with `since` = the position, and the server replays what was
 * missed, or answers `recovered: false` when it cannot.
 *
 * For each publication of a history topic (server frames carry offset+epoch):
 *   no position yet                  -> deliver
 *   same epoch, offset <= position   -> duplicate: drop
 *   same epoch, offset == position+1 -> deliver
 *   same epoch, offset >  position+1 -> gap: drop, resubscribe this topic with since
 *   another epoch                    -> the stream was reset: drop, resubscribe with since
 *                                       (the server answers recovered:false)
 * Publications of topics without history carry no offset and are delivered as they come.
 */
import { Emitter } from './emitter.js';
import type { ClientError } from './client-error.js';

export interface StreamPosition {
  offset: number;
  epoch: string;
}

export interface PublicationContext {
  topic: string;
  /** On history topics. */
  offset: number | undefined;
  epoch: string | undefined;
}

export type PublicationHandler = (data: unknown, ctx: PublicationContext) => void;

export interface SubscribedEvent {
  /**
   * True if the server replayed everything missed since the position the
   * client had (or there was nothing to replay). False on a history topic
   * when recovery was impossible (trimmed, another epoch): the app should
   * reload its state. Undefined on the first subscribe (nothing to recover).
   */
  recovered: boolean | undefined;
  /** The topic's top at the reply, on history topics. */
  position: StreamPosition | undefined;
}

export interface SubscriptionEvents {
  subscribed: SubscribedEvent;
  /** The server refused the subscribe (a bad topic): the subscription is dropped. */
  error: ClientError;
}

export type Verdict = 'deliver' | 'duplicate' | 'gap';

/** What to do with a publication at `offset`/`epoch` given the current position. */
export function judge(position: StreamPosition | undefined, offset: number | undefined, epoch: string | undefined): Verdict {
  if (offset === undefined || position === undefined) return 'deliver';
  if (epoch !== position.epoch) return 'gap';
  if (offset <= position.offset) return 'duplicate';
  return offset === position.offset + 1 ? 'deliver' : 'gap';
}

export class Subscription extends Emitter<SubscriptionEvents> {
  /** Position of the last publication handed to the app; undefined before the first. */
  position: StreamPosition | undefined;
  /** From the last subscribe reply. */
  recovered: boolean | undefined;
  /** A subscribe (or resync) command is in flight on the current socket. */
  pending = false;
  /** False once unsubscribed (or refused): late frames are ignored. */
  active = true;

  constructor(
    readonly topic: string,
    readonly handler: PublicationHandler,
    detach: (sub: Subscription) => void,
    onListenerError: (err: unknown) => void,
  ) {
    super(onListenerError);
    this.#detach = detach;
  }

  readonly #detach: (sub: Subscription) => void;

  /** Stops delivery at once and tells the server (if connected). */
  unsubscribe(): void {
    if (!this.active) return;
    this.active = false;
    this.#detach(this);
  }
}
