/**
 * What the client does after each WebSocket close code.
 *
 * | code                         | meaning (RFC 6455, IANA)         | client                                             |
 * | ---------------------------- | -------------------------------- | -------------------------------------------------- |
 * | 1000 normal                  | the server ended the session     | reconnect on the failure backoff (see below)       |
 * | 1001 going away, 1012 restart| drain, rolling restart           | planned: U(0, retryMs hint) else U[0.25, 3] s,      |
 * |                              |                                  | not counted as a failure                           |
 * | 1005, 1006, 1011, 1014, 1015 | no status, abnormal, server      | failure backoff                                    |
 * |                              | error, bad gateway, TLS          |                                                    |
 * | 1008 policy                  | rate limit, slow consumer        | failure backoff, floor >= 1 s                      |
 * | 1013 try again later         | overload                         | failure backoff, floor >= 5 s (or the hint)        |
 * | 1002, 1003, 1007, 1009       | protocol, data, payload, size    | terminal: resending the same bytes would loop      |
 * | 3000-3499, 4000-4499         | application, transient           | failure backoff                                    |
 * | 3500-3999, 4500-4999         | application, terminal            | terminal                                           |
 * | anything else                | unknown                          | failure backoff                                    |
 *
 * 1000: the built-in app never closes with 1000; an app that does usually
 * means "this session is over", not "never come back" (a kick is a 4xxx
 * terminal code). Stopping would leave a page silently dead, so the client
 * reconnects, on the failure path, so a server closing every session at once
 * with 1000 gets spread reconnects, not a herd (Phoenix stops on 1000,
 * partysocket reconnects at once).
 *
 * A planned close before the server's hello (a draining node accepting then
 * closing) is treated as a failure, so such a node cannot keep clients
 * reconnecting every few hundred ms.
 */

/** Close codes by name (top-level constants: the bundler inlines them). */
export const NORMAL = 1000;
export const GOING_AWAY = 1001;
export const PROTOCOL_ERROR = 1002;
export const UNSUPPORTED_DATA = 1003;
export const NO_STATUS = 1005;
export const ABNORMAL = 1006;
export const INVALID_PAYLOAD = 1007;
export const POLICY_VIOLATION = 1008;
export const MESSAGE_TOO_BIG = 1009;
export const INTERNAL_ERROR = 1011;
export const SERVICE_RESTART = 1012;
export const TRY_AGAIN_LATER = 1013;
export const BAD_GATEWAY = 1014;
export const TLS_HANDSHAKE = 1015;

/** Failure-path floors for codes that ask for patience, ms. */
export const POLICY_FLOOR_MS = 1_000;
export const TRY_AGAIN_FLOOR_MS = 5_000;

export type CloseAction =
  /** Reconnect within the server's window (or a short random delay); not a failure. */
  | { kind: 'planned'; retryMs: number | undefined }
  /** Reconnect on the failure backoff, no sooner than minMs. */
  | { kind: 'failure'; minMs: number }
  /** Do not reconnect; surface the error. */
  | { kind: 'terminal' };

/** The reason text of a close, and the retry window if the server put one in a JSON reason. */
export function parseCloseReason(reason: string): { text: string; retryMs: number | undefined } {
  if (reason.startsWith('{')) {
    try {
      const v = JSON.parse(reason) as { reason?: unknown; retryMs?: unknown };
      const retryMs = typeof v.retryMs === 'number' && Number.isFinite(v.retryMs) && v.retryMs >= 0 ? v.retryMs : undefined;
      return { text: typeof v.reason === 'string' ? v.reason : reason, retryMs };
    } catch {
      // not JSON after all: a plain reason that starts with a brace
    }
  }
  return { text: reason, retryMs: undefined };
}

/** Classifies a close; `helloSeen` is whether this connection got the server's hello. */
export function closeAction(code: number, reason: string, helloSeen: boolean): CloseAction {
  const { retryMs } = parseCloseReason(reason);
  switch (code) {
    case GOING_AWAY:
    case SERVICE_RESTART:
      return helloSeen ? { kind: 'planned', retryMs } : { kind: 'failure', minMs: 0 };
    case POLICY_VIOLATION:
      return { kind: 'failure', minMs: POLICY_FLOOR_MS };
    case TRY_AGAIN_LATER:
      return { kind: 'failure', minMs: Math.max(TRY_AGAIN_FLOOR_MS, retryMs ?? 0) };
    case PROTOCOL_ERROR:
    case UNSUPPORTED_DATA:
    case INVALID_PAYLOAD:
    case MESSAGE_TOO_BIG:
      return { kind: 'terminal' };
    default:
      if ((code >= 3500 && code <= 3999) || (code >= 4500 && code <= 4999)) return { kind: 'terminal' };
      return { kind: 'failure', minMs: 0 };
  }
}
