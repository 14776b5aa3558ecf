/**
 * What the client needs from its host (browser or Node), reached through
 * `globalThis` with narrow types: the tsconfig has no DOM library, and the
 * client must run where none of these exist.
 */
import { ClientErrorCode } from './error-codes.js';
import { ClientError } from './client-error.js';

/** The part of the WHATWG WebSocket the client uses; `ws` (Node) and browsers both provide it. */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  /** `ws` only: drop the TCP connection without a closing handshake (a dead link would hold it for 30 s). */
  terminate?(): void;
}

/**
 * What the `WebSocket` option accepts: any constructor taking a URL and
 * subprotocols whose
 * instances behave like WebSocketLike (the browser's, `ws`'s). Typed loosely
 * so `ws` can be passed without a cast.
 */
export type WebSocketConstructor = new (url: string, protocols: string[]) => object;
type SocketCtor = new (url: string, protocols: string[]) => WebSocketLike;

/** window-like: online/offline events; document-like: visibilitychange. */
export interface EventTargetLike {
  addEventListener(type: string, fn: () => void): void;
  removeEventListener(type: string, fn: () => void): void;
}

interface Host {
  WebSocket?: SocketCtor;
  window?: EventTargetLike;
  document?: EventTargetLike & { visibilityState?: string };
  navigator?: { onLine?: boolean };
  crypto?: { getRandomValues?: (a: Uint8Array) => Uint8Array };
}

const host = globalThis as unknown as Host;

/** The option if given, else the global WebSocket (browsers, Node >= 22); throws NO_WEBSOCKET otherwise. */
export function resolveWebSocket(option: WebSocketConstructor | undefined): SocketCtor {
  const ctor = (option ?? host.WebSocket) as SocketCtor | undefined;
  if (typeof ctor !== 'function') {
    throw new ClientError(ClientErrorCode.NO_WEBSOCKET, 'no global WebSocket: pass the WebSocket option (ws)');
  }
  return ctor;
}

/** Browser signals the client reacts to; every member is a no-op where the host lacks it. */
export interface NetworkEnv {
  /** False when the browser knows it has no network (navigator.onLine). */
  online(): boolean;
  /** True while the page is hidden (a background tab). */
  hidden(): boolean;
  /** Subscribes to online/offline/visibilitychange; returns the unsubscribe. */
  watch(on: { online(): void; offline(): void; visible(): void }): () => void;
}

export function browserNetwork(): NetworkEnv {
  const win = typeof host.window?.addEventListener === 'function' ? host.window : undefined;
  const doc = typeof host.document?.addEventListener === 'function' ? host.document : undefined;
  return {
    online: () => host.navigator?.onLine !== false,
    hidden: () => doc?.visibilityState === 'hidden',
    watch(on) {
      const online = (): void => on.online();
      const offline = (): void => on.offline();
      const visibility = (): void => {
        if (doc?.visibilityState !== 'hidden') on.visible();
      };
      win?.addEventListener('online', online);
      win?.addEventListener('offline', offline);
      doc?.addEventListener('visibilitychange', visibility);
      return () => {
        win?.removeEventListener('online', online);
        win?.removeEventListener('offline', offline);
        doc?.removeEventListener('visibilitychange', visibility);
      };
    },
  };
}

/** A host without network signals (Node, or `network: null`). */
export const NO_NETWORK: NetworkEnv = { online: () => true, hidden: () => false, watch: () => () => {} };

/** 128 random bits as hex: the client's part of every idempotency key. */
export function randomId(random: () => number): string {
  const bytes = new Uint8Array(16);
  if (typeof host.crypto?.getRandomValues === 'function') host.crypto.getRandomValues(bytes);
  else for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(random() * 256);
  let out = '';
  for (const b of bytes) out += b.toString(16).padStart(2, '0');
  return out;
}
