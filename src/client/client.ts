/**
 * The client's connection state machine.
 *
 *            createClient()                  hello, resubscribes answered,
 *                 |                          outbox resent
 *   disconnected --dial--> connecting ------------------------------> connected
 *        ^                     |                                          |
 *        |  backoff / planned  | close, error, connect timeout            | close, ping timeout, offline
 *        +---------------------+------------------------------------------+
 *   any state --close() or a terminal close code--> closed (final)
 *
 * Invariants:
 * - One socket at a time: a socket is abandoned (handlers replaced by no-ops,
 *   close() called) before the next is dialled, and every callback checks the
 *   generation it was made for, so a late event of an old socket does nothing.
 * - `connected` is emitted only after the server's hello, the replies to the
 *   resubscribes (with their recovered publications) and the outbox resend,
 *   in that order: the app never races its own first frames.
 * - The failure counter is reset only once a connection has lived
 *   `minUptimeMs` after its hello, so a server that accepts and then closes
 *   keeps its clients backing off.
 */
import { ClientErrorCode } from './error-codes.js';
import { DEFAULT_BACKOFF, failureDelay, plannedDelay, type BackoffOptions } from './backoff.js';
import { ClientError } from './client-error.js';
import { closeAction, parseCloseReason, ABNORMAL, NORMAL } from './close-codes.js';
import { Emitter } from './emitter.js';
import { browserNetwork, NO_NETWORK, randomId, resolveWebSocket, type NetworkEnv, type WebSocketConstructor, type WebSocketLike } from './environment.js';
import { DEFAULT_OUTBOX, Outbox, type OutboxLimits, type PublishResult } from './outbox.js';
import { graceTimeout } from './timers.js';
import { replyError, Session, type SessionHost } from './session.js';
import { Subscription, type PublicationHandler } from './subscription.js';
import { SUBPROTOCOL, type Hello } from './wire.js';

export type ClientState = 'disconnected' | 'connecting' | 'connected' | 'closed';

export interface ClientOptions {
  /** WebSocket implementation; default: the global one (browsers, Node >= 22). On Node 20 pass `ws`. */
  WebSocket?: WebSocketConstructor;
  /** Source of randomness for every delay, U[0, 1); default Math.random. */
  random?: () => number;
  /** Failure backoff, ms: default floor 500, cap 20,000. */
  backoff?: Partial<BackoffOptions>;
  /**
   * From dial to connected (socket open, hello, resubscribes answered), ms,
   * restarted by every frame that arrives meanwhile: a recovery that is slow
   * but moving (a node replaying to hundreds of clients after a drain) is not
   * cut and restarted from scratch; a server that says nothing is. Default 10,000.
   */
  connectTimeoutMs?: number;
  /** Reply timeout of request(), ms. Default 10,000. */
  requestTimeoutMs?: number;
  /** Reply timeout of the application-level ping, ms. Default 10,000. */
  pingTimeoutMs?: number;
  /** Ping at least this often, s (a dead link is found within pingSec + pingTimeoutMs). Default: the server's pingSec (hello). */
  pingSec?: number;
  /** A connection must live this long after hello before the failure counter resets, ms. Default 5,000. */
  minUptimeMs?: number;
  /** Outbox bounds. Default 1,000 messages, 1 MiB, 3 attempts. */
  outbox?: Partial<OutboxLimits>;
  /** Browser online/offline/visibility signals; default: the page's own; null: ignore them. */
  network?: NetworkEnv | null;
  /** Redial while the page is hidden; default false (wait until it is visible). */
  reconnectWhileHidden?: boolean;
}

export interface ClientEvents {
  connecting: { attempt: number };
  connected: { hello: Hello };
  /** Every dial ends with one: `reconnectInMs` is undefined when the client will not reconnect. */
  disconnected: { code: number; reason: string; reconnectInMs: number | undefined };
  closed: { error: ClientError | undefined };
  error: ClientError;
}

/** Spread of a reconnect prompted by `online` or the page becoming visible, ms: a whole office comes online together. */
const WAKE_SPREAD_MS = 1_000;

export class Client extends Emitter<ClientEvents> implements SessionHost {
  #stateNow: ClientState = 'disconnected';
  readonly #WS: ReturnType<typeof resolveWebSocket>;
  readonly random: () => number;
  readonly backoff: BackoffOptions;
  readonly #connectTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly #ping: { sec: number | undefined; timeoutMs: number };
  readonly #minUptimeMs: number;
  readonly #net: NetworkEnv;
  readonly #reconnectWhileHidden: boolean;
  readonly outbox: Outbox;
  readonly subs = new Map<string, Subscription>();
  readonly #clientId: string;
  #keyCounter = 0;
  /** Failed attempts since the last connection that lived minUptimeMs. */
  #failures = 0;
  #gen = 0;
  #session: Session | undefined;
  #parked = false;
  #cancelReconnect: () => void = noop;
  #cancelConnect: () => void = noop;
  readonly #unwatch: () => void;
  /** request() calls waiting for a connection (or in flight), each able to fail itself. */
  readonly #waiting = new Set<WaitingRequest>();

  constructor(
    readonly url: string,
    opts: ClientOptions = {},
  ) {
    super((err, event) => this.listenerFailed(err, String(event)));
    if (!/^wss?:\/\//i.test(url)) throw new ClientError(ClientErrorCode.BAD_ARGUMENT, `url must start with ws:// or wss://: ${url}`);
    this.#WS = resolveWebSocket(opts.WebSocket);
    this.random = opts.random ?? Math.random;
    this.backoff = { ...DEFAULT_BACKOFF, ...opts.backoff };
    this.#connectTimeoutMs = opts.connectTimeoutMs ?? 10_000;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 10_000;
    this.#ping = { sec: opts.pingSec, timeoutMs: opts.pingTimeoutMs ?? 10_000 };
    this.#minUptimeMs = opts.minUptimeMs ?? 5_000;
    this.outbox = new Outbox({ ...DEFAULT_OUTBOX, ...opts.outbox });
    this.#net = opts.network === null ? NO_NETWORK : (opts.network ?? browserNetwork());
    this.#reconnectWhileHidden = opts.reconnectWhileHidden ?? false;
    this.#clientId = randomId(this.random);
    this.#unwatch = this.#net.watch({
      online: () => this.#wake(true),
      visible: () => this.#wake(false),
      offline: () => this.#session?.drop(ABNORMAL, 'offline'),
    });
    // Dials in a microtask: still at once, but after the caller attached its listeners (it sees `connecting`).
    this.#stateNow = 'connecting';
    queueMicrotask(() => this.#stateNow === 'connecting' && this.#session === undefined && this.#dial());
  }

  get state(): ClientState {
    return this.#stateNow;
  }

  /** Subscribes to `topic`; resubscribed with `since` on every reconnect until unsubscribe(). */
  subscribe(topic: string, onPublication: PublicationHandler): Subscription {
    const bad = badTopic(topic) ?? (this.subs.has(topic) ? new ClientError(ClientErrorCode.BAD_ARGUMENT, `already subscribed to ${topic}`) : undefined);
    if (bad !== undefined) throw bad;
    const sub = new Subscription(
      topic,
      onPublication,
      (s) => this.#unsubscribed(s),
      (err) => this.listenerFailed(err, `subscription ${topic}`),
    );
    this.subs.set(topic, sub);
    this.#session?.subscribeLate(sub);
    return sub;
  }

  /**
   * Publishes `data` (any JSON value) to `topic` through the outbox. Resolves
   * once the server applied it (with the offset on a history topic); rejects
   * with the server's code, OUTBOX_FULL, PAYLOAD_TOO_LARGE, UNCONFIRMED or CLOSED.
   */
  publish(topic: string, data: unknown): Promise<PublishResult> {
    const bad = this.#closedError() ?? badTopic(topic);
    if (bad !== undefined) return Promise.reject(bad);
    const key = `${this.#clientId}-${++this.#keyCounter}`;
    let body: string;
    try {
      body = Outbox.body(topic, data, key);
    } catch (err) {
      return Promise.reject(err);
    }
    const p = this.outbox.add(topic, body, key);
    // Written at once on a live connection; else after the next hello (where too large a frame fails).
    if (this.#stateNow === 'connected') this.#session?.flushOutbox();
    return p;
  }

  /**
   * Sends any protocol v1 command (`{ ping: 1 }`, `{ unsubscribe: 't' }`...)
   * with an id and resolves with the server's reply. Waits for a connection
   * up to the timeout; never resent after a connection loss (CONNECTION_LOST).
   */
  request(command: Record<string, unknown>, opts: { timeoutMs?: number } = {}): Promise<Record<string, unknown>> {
    const closed = this.#closedError();
    if (closed !== undefined) return Promise.reject(closed);
    if (command === null || typeof command !== 'object' || Array.isArray(command) || 'id' in command) {
      return Promise.reject(new ClientError(ClientErrorCode.BAD_ARGUMENT, 'a command is a plain object without an id'));
    }
    const timeoutMs = opts.timeoutMs ?? this.requestTimeoutMs;
    return new Promise((resolve, reject) => {
      let settled = false;
      const settle = (fn: () => void): void => {
        if (settled) return;
        settled = true;
        cancel();
        this.#waiting.delete(r);
        fn();
      };
      const r: WaitingRequest = {
        sentOn: undefined,
        send: (s) =>
          s.call(
            command,
            (f) => settle(() => (f.ok ? resolve(f.body) : reject(replyError(f)))),
            (err) => settle(() => reject(err)),
          ),
        fail: (err) => settle(() => reject(err)),
      };
      const cancel = graceTimeout(() => r.fail(new ClientError(ClientErrorCode.TIMEOUT, `no reply within ${timeoutMs} ms`)), timeoutMs);
      this.#waiting.add(r);
      if (this.#stateNow === 'connected' && this.#session !== undefined) (r.sentOn = this.#session), r.send(this.#session);
    });
  }

  /** Closes for good: the socket with 1000, every pending promise with CLOSED. Idempotent. */
  close(): void {
    this.#shutdown(undefined, NORMAL, 'client closed');
  }

  // ---- SessionHost: what a session calls back (internal, not for apps) ----

  /** @internal The session got its hello and the resubscribes are answered. */
  connected(s: Session, hello: Hello): void {
    if (this.#session !== s) return;
    this.#cancelConnect();
    this.#setState('connected');
    this.emit('connected', { hello });
    // Reset the failure counter only once the connection has proved itself.
    const resetTimer = setTimeout(() => {
      if (this.#session === s) this.#failures = 0;
    }, this.#minUptimeMs);
    s.onEnd(() => clearTimeout(resetTimer));
    // Requests that waited for a connection; those already in flight are in the session's own table.
    for (const r of [...this.#waiting]) if (r.sentOn !== s) (r.sentOn = s), r.send(s);
  }

  /** @internal A frame arrived before `connected`: restart the connect timeout. */
  progress(s: Session): void {
    if (this.#session !== s) return;
    this.#cancelConnect();
    this.#armConnect(s);
  }

  /** @internal The session's socket ended (closed by the server, or dropped by us). */
  ended(s: Session, code: number, reason: string): void {
    if (this.#session !== s) return;
    this.#session = undefined;
    this.#cancelConnect();
    this.outbox.connectionDied();
    for (const sub of this.subs.values()) sub.pending = false;
    if (this.#stateNow === 'closed') return;
    const action = closeAction(code, reason, s.hello !== undefined);
    const text = parseCloseReason(reason).text;
    if (action.kind === 'terminal') {
      const err = new ClientError(ClientErrorCode.TERMINAL_CLOSE, `server closed with ${code} ${text}`, { closeCode: code });
      this.emit('disconnected', { code, reason: text, reconnectInMs: undefined });
      this.emit('error', err);
      this.#shutdown(err, code, text);
      return;
    }
    const delay =
      action.kind === 'planned' ? plannedDelay(action.retryMs, this.random) : failureDelay(this.#failures++, this.random, this.backoff, action.minMs);
    this.#setState('disconnected');
    this.emit('disconnected', { code, reason: text, reconnectInMs: delay });
    this.#cancelReconnect = graceTimeout(() => this.#redial(), delay, Number.POSITIVE_INFINITY);
  }

  /** @internal A listener or handler threw: reported as an `error` event. */
  listenerFailed(err: unknown, where: string): void {
    const e = new ClientError(ClientErrorCode.LISTENER_FAILED, `a listener of ${where} threw: ${String(err)}`, { cause: err });
    if (where === 'error') return; // an error listener that throws must not loop
    this.emit('error', e);
  }

  // ---- internals ----

  /** CLOSED once the client is closed, else undefined. */
  #closedError(): ClientError | undefined {
    return this.#stateNow === 'closed' ? new ClientError(ClientErrorCode.CLOSED, 'client closed') : undefined;
  }

  #setState(s: ClientState): void {
    this.#stateNow = s;
  }

  #dial(): void {
    if (this.#stateNow === 'closed') return;
    this.#parked = false;
    const gen = ++this.#gen;
    this.#setState('connecting');
    this.emit('connecting', { attempt: this.#failures });
    if (this.#gen !== gen || this.#stateNow !== 'connecting') return; // a listener closed the client
    let ws: WebSocketLike;
    try {
      ws = new this.#WS(this.url, [SUBPROTOCOL]);
    } catch (err) {
      this.emit('error', new ClientError(ClientErrorCode.BAD_ARGUMENT, `WebSocket constructor threw: ${String(err)}`, { cause: err }));
      this.#shutdown(undefined, ABNORMAL, 'bad url');
      return;
    }
    const session = new Session(this, ws, this.#ping);
    this.#session = session;
    this.#armConnect(session);
  }

  #armConnect(s: Session): void {
    this.#cancelConnect = graceTimeout(() => s.drop(ABNORMAL, 'connect timeout'), this.#connectTimeoutMs);
  }

  /** The reconnect timer fired: dial, unless the browser is offline or the page hidden (then wait for the signal). */
  #redial(): void {
    if (this.#stateNow !== 'disconnected') return;
    if (!this.#net.online() || (this.#net.hidden() && !this.#reconnectWhileHidden)) {
      this.#parked = true;
      return;
    }
    this.#dial();
  }

  /**
   * `online`: a parked or backing-off client dials after a small random delay
   * (the network changed; the backoff's reason may be gone). Visible again:
   * only a client parked while hidden does.
   */
  #wake(online: boolean): void {
    if (this.#stateNow !== 'disconnected' || !(online || this.#parked)) return;
    this.#cancelReconnect();
    this.#parked = false;
    this.#cancelReconnect = graceTimeout(() => this.#redial(), this.random() * WAKE_SPREAD_MS, Number.POSITIVE_INFINITY);
  }

  #unsubscribed(sub: Subscription): void {
    if (this.subs.get(sub.topic) === sub) this.subs.delete(sub.topic);
    this.#session?.unsubscribe(sub.topic);
  }

  #shutdown(error: ClientError | undefined, code: number, reason: string): void {
    if (this.#stateNow === 'closed') return;
    const wasLive = this.#session !== undefined; // a dial is under way or connected: it gets its `disconnected`
    this.#setState('closed');
    this.#gen++;
    this.#cancelReconnect();
    this.#cancelConnect();
    this.#unwatch();
    const s = this.#session;
    this.#session = undefined;
    const closed = error ?? (this.#closedError() as ClientError);
    s?.abandon(reason, closed);
    for (const r of [...this.#waiting]) r.fail(closed);
    this.outbox.failAll(closed);
    for (const sub of this.subs.values()) sub.active = false;
    this.subs.clear();
    if (wasLive && error === undefined) this.emit('disconnected', { code, reason, reconnectInMs: undefined });
    this.emit('closed', { error });
  }

  /** A fresh idempotency key (for tests and apps that publish through request()). */
  nextKey(): string {
    return `${this.#clientId}-${++this.#keyCounter}`;
  }
}

function noop(): void {}

function badTopic(topic: unknown): ClientError | undefined {
  return typeof topic === 'string' && topic !== '' ? undefined : new ClientError(ClientErrorCode.BAD_ARGUMENT, 'topic: not a non-empty string');
}

interface WaitingRequest {
  /** The session it was written on; a request is written at most once. */
  sentOn: Session | undefined;
  send(s: Session): void;
  fail(err: ClientError): void;
}

/** Creates a client and starts connecting at once. */
export function createClient(url: string, opts?: ClientOptions): Client {
  return new Client(url, opts);
}
