/**
 * Codes of errors raised inside `shardline/client`, part of the catalogue in
 * src/errors.ts (which re-exports them). Replies from the server carry the
 * server's own codes (SHARDLINE_BAD_COMMAND, ...), passed through unchanged.
 */
export const ClientErrorCode = {
  /** The outbox holds `maxMessages` or `maxBytes` already: the publish is refused at once. */
  OUTBOX_FULL: 'SHARDLINE_CLIENT_OUTBOX_FULL',
  /** The frame is larger than the server's `maxPayloadBytes` (from its hello). */
  PAYLOAD_TOO_LARGE: 'SHARDLINE_CLIENT_PAYLOAD_TOO_LARGE',
  /** A publish was written but never acknowledged: its connection died `maxDeaths` times, or it waited longer than the server's idempotency window. Resending with the same key is no longer safe to assume. */
  UNCONFIRMED: 'SHARDLINE_CLIENT_UNCONFIRMED',
  /** close() was called (or a terminal close code ended the client) before this settled. */
  CLOSED: 'SHARDLINE_CLIENT_CLOSED',
  /** A request was in flight when its connection died; requests other than publish are never resent. */
  CONNECTION_LOST: 'SHARDLINE_CLIENT_CONNECTION_LOST',
  /** A request got no reply within its timeout. */
  TIMEOUT: 'SHARDLINE_CLIENT_TIMEOUT',
  /** The server closed with a code that retrying cannot fix (1002, 1003, 1007, 1009, 3500-3999, 4500-4999). */
  TERMINAL_CLOSE: 'SHARDLINE_CLIENT_TERMINAL_CLOSE',
  /** A bad argument: an empty topic, data JSON cannot represent, a command that is not an object. */
  BAD_ARGUMENT: 'SHARDLINE_CLIENT_BAD_ARGUMENT',
  /** The server spoke something else than protocol v1 (no hello first, another protocol version). */
  PROTOCOL: 'SHARDLINE_CLIENT_PROTOCOL',
  /** No WebSocket implementation: pass the `WebSocket` option (e.g. the `ws` package) on Node < 22. */
  NO_WEBSOCKET: 'SHARDLINE_CLIENT_NO_WEBSOCKET',
  /** An event listener or publication handler threw; the client goes on. */
  LISTENER_FAILED: 'SHARDLINE_CLIENT_LISTENER_FAILED',
} as const;
export type ClientErrorCode = (typeof ClientErrorCode)[keyof typeof ClientErrorCode];
