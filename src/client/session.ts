/**
 * One socket's life: from dial to close. A client has at most one session at
 * a time; a new one starts only after the last one ended (see client.ts).
 *
 * After the server's hello, in this order:
 *   1. every active subscription is resubscribed (`since` = its position on
 *      history topics); recovered publications arrive before each reply and
 *      go to the handlers as they come;
 *   2. once every resubscribe is answered, the outbox is resent (same keys);
 *   3. the client emits `connected` and sends the requests that waited;
 *   4. an application-level ping every `pingSec` (browsers cannot see
 *      WebSocket pings), each answered within `pingTimeoutMs` or the link is
 *      declared dead and dropped.
 * A session that has ended ignores every later event of its socket.
 */
import { ClientErrorCode } from './error-codes.js';
import { failureDelay, type BackoffOptions } from './backoff.js';
import { ClientError } from './client-error.js';
import { ABNORMAL, NORMAL, PROTOCOL_ERROR } from './close-codes.js';
import type { WebSocketLike } from './environment.js';
import type { Outbox } from './outbox.js';
import { Pacer } from './pacer.js';
import { judge, type Subscription } from './subscription.js';
import { graceTimeout } from './timers.js';
import { parseFrame, PROTOCOL_VERSION, type Hello, type ServerFrame } from './wire.js';

export type Reply = Extract<ServerFrame, { type: 'reply' }>;

export interface SessionHost {
  readonly random: () => number;
  readonly backoff: BackoffOptions;
  readonly outbox: Outbox;
  readonly subs: Map<string, Subscription>;
  connected(s: Session, hello: Hello): void;
  /** A frame arrived before `connected`: the connection is slow, not dead. */
  progress(s: Session): void;
  ended(s: Session, code: number, reason: string): void;
  listenerFailed(err: unknown, where: string): void;
  emit(event: 'error', err: ClientError): void;
}

interface Pending {
  reply(f: Reply): void;
  lost(err: ClientError): void;
}

/** A reply's error as a ClientError carrying the server's code. */
export function replyError(f: Reply): ClientError | undefined {
  return f.ok ? undefined : new ClientError(f.error.code, f.error.message, { retryable: f.error.retryable });
}

function noop(): void {}

export class Session {
  hello: Hello | undefined;
  #nextId = 1;
  readonly #pending = new Map<number, Pending>();
  readonly #endHooks: (() => void)[] = [];
  #pacer: Pacer | undefined;
  #cancelFlush: () => void = noop;
  #done = false;
  /** Resubscribes of the first batch not yet answered. */
  #batchLeft = 0;
  /** The client was told `connected`. */
  #isReady = false;

  readonly #host: SessionHost;
  readonly #ws: WebSocketLike;
  readonly #pingOpts: { sec: number | undefined; timeoutMs: number };

  /** `ping.sec`: the client's own interval, used when shorter than the server's. */
  constructor(host: SessionHost, ws: WebSocketLike, ping: { sec: number | undefined; timeoutMs: number }) {
    this.#host = host;
    this.#ws = ws;
    this.#pingOpts = ping;
    ws.onopen = noop; // the hello, not the open, makes a connection
    ws.onerror = noop; // a close event always follows, with the code
    ws.onmessage = (ev) => {
      if (!this.#done && typeof ev.data === 'string') this.#frame(ev.data); // binary frames are not protocol v1
    };
    ws.onclose = (ev) => this.#end(ev.code, ev.reason);
  }

  /** Runs `fn` when this session ends (timers tied to it). */
  onEnd(fn: () => void): void {
    if (this.#done) fn();
    else this.#endHooks.push(fn);
  }

  /** Sends a command with a fresh id; `reply` or `lost` is called once. */
  call(command: Record<string, unknown>, reply: (f: Reply) => void, lost: (err: ClientError) => void): void {
    const json = JSON.stringify(command);
    this.#callRaw(json.slice(1, -1), reply, lost);
  }

  /** Subscribes a subscription made after the hello (before it, the hello's batch will). */
  subscribeLate(sub: Subscription): void {
    if (this.hello !== undefined && !this.#done) this.#subscribe(sub);
  }

  unsubscribe(topic: string): void {
    if (this.hello !== undefined && !this.#done) this.call({ unsubscribe: topic }, noop, noop);
  }

  /** Writes the outbox entries that are due (after the hello only). */
  flushOutbox(): void {
    const hello = this.hello;
    if (hello === undefined || this.#done) return;
    const { outbox, random, backoff } = this.#host;
    const now = Date.now();
    outbox.expire(now, hello.limits.idempotencySec * 1_000);
    for (const e of outbox.due(now)) {
      if (e.bytes > hello.limits.maxPayloadBytes) {
        outbox.fail(
          e,
          new ClientError(
            ClientErrorCode.PAYLOAD_TOO_LARGE,
            `publish frame of about ${e.bytes} bytes exceeds the server's maxPayloadBytes ${hello.limits.maxPayloadBytes}`,
          ),
        );
        continue;
      }
      outbox.markSent(e, now);
      this.#callRaw(
        e.body,
        (f) => {
          const err = replyError(f);
          if (err === undefined) {
            const body = f.ok ? f.body : {};
            outbox.applied(e, {
              offset: typeof body.offset === 'number' ? body.offset : undefined,
              epoch: typeof body.epoch === 'string' ? body.epoch : undefined,
            });
            return;
          }
          outbox.refused(e, err, Date.now() + failureDelay(e.failures, random, backoff));
          this.#armFlush();
        },
        noop, // a death sends every inflight entry back to the queue (Outbox.connectionDied)
      );
    }
    this.#armFlush();
  }

  /** Our own decision to end this socket (timeouts, offline, a protocol error). */
  drop(code: number, reason: string): void {
    if (this.#done) return;
    this.#detach(reason, true);
    this.#end(code, reason);
  }

  /** The client closed for good: end without reporting back, failing what waits with `err`. */
  abandon(reason: string, err: ClientError): void {
    if (this.#done) return;
    this.#detach(reason, false);
    this.#finish(err);
  }

  // ---- internals ----

  #callRaw(body: string, reply: (f: Reply) => void, lost: (err: ClientError) => void): void {
    const id = this.#nextId++;
    this.#pending.set(id, { reply, lost });
    this.#send(`{"id":${id}${body === '' ? '' : ','}${body}}`);
  }

  #send(frame: string): void {
    if (this.#pacer !== undefined) this.#pacer.send(frame);
    else this.#write(frame);
  }

  #write(frame: string): void {
    try {
      this.#ws.send(frame);
    } catch {
      // the socket is closing: its close event ends this session and requeues what was in flight
    }
  }

  #frame(text: string): void {
    if (!this.#isReady) this.#host.progress(this);
    const f = parseFrame(text);
    if (this.hello === undefined) {
      // Nothing is sent before the hello, so nothing else can come first.
      if (f.type !== 'hello') return;
      if (f.hello.protocol !== PROTOCOL_VERSION) {
        this.#host.emit('error', new ClientError(ClientErrorCode.PROTOCOL, `server speaks protocol ${f.hello.protocol}, this client ${PROTOCOL_VERSION}`));
        this.drop(PROTOCOL_ERROR, 'protocol version');
        return;
      }
      this.#welcome(f.hello);
      return;
    }
    switch (f.type) {
      case 'reply': {
        const p = this.#pending.get(f.id);
        if (p === undefined) return;
        this.#pending.delete(f.id);
        p.reply(f);
        return;
      }
      case 'publication':
        this.#publication(f.topic, f.data, f.offset, f.epoch);
        return;
      case 'resync': {
        const sub = this.#host.subs.get(f.topic);
        if (sub !== undefined) this.#subscribe(sub);
        return;
      }
      case 'hello':
      case 'other':
        return;
      default:
        assertNever(f);
    }
  }

  #welcome(hello: Hello): void {
    this.hello = hello;
    if (hello.limits.maxMessagesPerSecond > 0) this.#pacer = new Pacer(hello.limits.maxMessagesPerSecond, (fr) => this.#write(fr));
    const subs = [...this.#host.subs.values()].filter((s) => s.active);
    this.#batchLeft = subs.length;
    for (const sub of subs) this.#subscribe(sub, () => this.#batchAnswered());
    if (subs.length === 0) this.#ready();
  }

  #batchAnswered(): void {
    if (--this.#batchLeft === 0) this.#ready();
  }

  #ready(): void {
    if (this.#done || this.hello === undefined) return;
    this.#isReady = true;
    this.flushOutbox();
    this.#host.connected(this, this.hello);
    if (!this.#done) this.#ping();
  }

  #ping(): void {
    const server = this.hello?.pingSec ?? 0;
    const own = this.#pingOpts.sec;
    const sec = own !== undefined && own > 0 && (server <= 0 || own < server) ? own : server;
    if (sec <= 0) return;
    // The interval's lateness does not matter (a late ping is still a ping); its reply's does.
    const cancel = graceTimeout(
      () => {
        const dead = graceTimeout(() => this.drop(ABNORMAL, 'ping timeout'), this.#pingOpts.timeoutMs);
        this.onEnd(dead);
        this.call({ ping: 1 }, () => (dead(), this.#ping()), noop);
      },
      sec * 1_000,
      Number.POSITIVE_INFINITY,
    );
    this.onEnd(cancel);
  }

  #subscribe(sub: Subscription, answered?: () => void): void {
    const cmd: Record<string, unknown> = { subscribe: sub.topic };
    if (sub.position !== undefined) cmd.since = { offset: sub.position.offset, epoch: sub.position.epoch };
    sub.pending = true;
    this.call(
      cmd,
      (f) => {
        sub.pending = false;
        if (sub.active) this.#subscribed(sub, f);
        answered?.();
      },
      noop, // resubscribed after the next hello
    );
  }

  #subscribed(sub: Subscription, f: Reply): void {
    if (!f.ok) {
      if (f.error.retryable) {
        // Broker down: retry this topic alone, on the failure backoff.
        const retry = graceTimeout(() => sub.active && this.#subscribe(sub), failureDelay(0, this.#host.random, this.#host.backoff), Number.POSITIVE_INFINITY);
        this.onEnd(retry);
        return;
      }
      sub.active = false;
      if (this.#host.subs.get(sub.topic) === sub) this.#host.subs.delete(sub.topic);
      const err = replyError(f) as ClientError;
      sub.emit('error', err);
      this.#host.emit('error', err);
      return;
    }
    const { offset, epoch, recovered } = f.body;
    const rec = typeof recovered === 'boolean' ? recovered : undefined;
    if (typeof offset === 'number' && typeof epoch === 'string') {
      const p = sub.position;
      // recovered:false: the server's top replaces a position it could not serve.
      if (p === undefined || rec === false || p.epoch !== epoch || offset > p.offset) sub.position = { offset, epoch };
    }
    sub.recovered = rec;
    sub.emit('subscribed', { recovered: rec, position: sub.position });
  }

  #publication(topic: string, data: unknown, offset: number | undefined, epoch: string | undefined): void {
    const sub = this.#host.subs.get(topic);
    if (sub === undefined || !sub.active) return;
    switch (judge(sub.position, offset, epoch)) {
      case 'duplicate':
        return;
      case 'gap':
        // Resubscribe this topic alone with since; the server replays the hole (or says recovered:false).
        if (!sub.pending) this.#subscribe(sub);
        return;
      case 'deliver':
        break;
    }
    try {
      sub.handler(data, { topic, offset, epoch });
    } catch (err) {
      this.#host.listenerFailed(err, `the handler of ${topic}`);
    }
    // After the handler: a resubscribe asks for what the app has not seen.
    if (offset !== undefined && epoch !== undefined) sub.position = { offset, epoch };
  }

  #armFlush(): void {
    this.#cancelFlush();
    const at = this.#host.outbox.nextDueAt();
    if (at === undefined || this.#done) return;
    this.#cancelFlush = graceTimeout(() => this.flushOutbox(), Math.max(0, at - Date.now()), Number.POSITIVE_INFINITY);
  }

  /**
   * Replaces the socket's handlers with no-ops (ws throws on an unhandled
   * 'error') and closes it. `hard` (a link we judged dead): at once where the
   * host can (`ws` terminate(); a dead link would hold a closing handshake
   * for 30 s); else, and for close(), with a close frame.
   */
  #detach(reason: string, hard: boolean): void {
    const ws = this.#ws;
    ws.onmessage = noop;
    ws.onclose = noop;
    try {
      if (hard && typeof ws.terminate === 'function') ws.terminate();
      else ws.close(NORMAL, reason);
    } catch {
      // already closed
    }
  }

  #end(code: number, reason: string): void {
    if (this.#done) return;
    this.#finish(new ClientError(ClientErrorCode.CONNECTION_LOST, `connection lost (${code} ${reason}) before the reply`));
    this.#host.ended(this, code, reason);
  }

  #finish(err: ClientError): void {
    this.#done = true;
    this.#pacer?.stop();
    this.#cancelFlush();
    for (const fn of this.#endHooks.splice(0)) fn();
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const p of pending) p.lost(err);
  }
}

function assertNever(x: never): never {
  throw new Error(`unexpected frame: ${JSON.stringify(x)}`);
}
