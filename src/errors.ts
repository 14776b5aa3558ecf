/**
 * One catalogue of error codes. Every error that crosses a thread boundary or
 * reaches a user carries one of these codes; protocol errors also carry the
 * WebSocket close code that goes on the wire, so no bare numbers are spread
 * through the code base.
 */

/** WebSocket close codes used by shardline (RFC 6455 section 7.4, IANA registry). */
export const CloseCode = {
  NORMAL: 1000,
  GOING_AWAY: 1001,
  INVALID_PAYLOAD: 1007,
  POLICY_VIOLATION: 1008,
  MESSAGE_TOO_BIG: 1009,
  INTERNAL_ERROR: 1011,
  SERVICE_RESTART: 1012,
  TRY_AGAIN_LATER: 1013,
} as const;

/** Close codes an endpoint may send (RFC 6455 7.4.1/7.4.2; 1004-1006 and 1015 are reserved). */
export function isSendableCloseCode(code: number): boolean {
  return Number.isInteger(code) && ((code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999));
}

export const ErrorCode = {
  /** The config file or a flag holds a bad value. Exit 2. */
  CONFIG_INVALID: 'SHARDLINE_CONFIG_INVALID',
  /** The command line is malformed. Exit 2. */
  ARGS_INVALID: 'SHARDLINE_ARGS_INVALID',
  /** The app module cannot be loaded or has the wrong shape. Exit 2. */
  APP_INVALID: 'SHARDLINE_APP_INVALID',
  /** No native uWebSockets.js build could be loaded. Exit 1. */
  UWS_UNAVAILABLE: 'SHARDLINE_UWS_UNAVAILABLE',
  /** A shard could not listen on the port. Exit 1. */
  LISTEN_FAILED: 'SHARDLINE_LISTEN_FAILED',
  /** A shard thread failed or exited on its own outside a drain. Exit 1. */
  SHARD_FAILED: 'SHARDLINE_SHARD_FAILED',
  /** A socket's write queue overflowed (policy `close`). Close 1008. */
  SLOW_CONSUMER: 'SHARDLINE_SLOW_CONSUMER',
  /** An app hook threw or rejected while handling one socket. Close 1011. */
  HANDLER_FAILED: 'SHARDLINE_HANDLER_FAILED',
  /** The offload tasks module cannot be loaded or exports no task. Exit 2. */
  OFFLOAD_INVALID: 'SHARDLINE_OFFLOAD_INVALID',
  /** offload() was called but no `offload.module` is configured. */
  OFFLOAD_NOT_CONFIGURED: 'SHARDLINE_OFFLOAD_NOT_CONFIGURED',
  /** offload() named a task the tasks module does not export. */
  OFFLOAD_UNKNOWN_TASK: 'SHARDLINE_OFFLOAD_UNKNOWN_TASK',
  /** The task threw or rejected; `taskErrorName` holds its error's name. */
  OFFLOAD_TASK_FAILED: 'SHARDLINE_OFFLOAD_TASK_FAILED',
  /** The pool's queue is full (offload.maxQueue). */
  OFFLOAD_QUEUE_FULL: 'SHARDLINE_OFFLOAD_QUEUE_FULL',
  /** The task ran longer than offload.taskTimeoutMs and was aborted. */
  OFFLOAD_TIMEOUT: 'SHARDLINE_OFFLOAD_TIMEOUT',
  /** The payload cannot be structured-cloned (functions, sockets...). */
  OFFLOAD_NOT_CLONEABLE: 'SHARDLINE_OFFLOAD_NOT_CLONEABLE',
  /** offload() after the socket's close frame was sent, or after the shard stopped. */
  OFFLOAD_SHUTTING_DOWN: 'SHARDLINE_OFFLOAD_SHUTTING_DOWN',
  /** The broker (Redis) cannot be reached now, or did not answer in time. Retryable. */
  BROKER_UNAVAILABLE: 'SHARDLINE_BROKER_UNAVAILABLE',
  /** The broker answered with an error that retrying will not fix (a script error, a wrong type). */
  BROKER_FAILED: 'SHARDLINE_BROKER_FAILED',
  /** A topic name is empty, not a string, or longer than 256 bytes. */
  TOPIC_INVALID: 'SHARDLINE_TOPIC_INVALID',
  /** A publish or subscribe could not complete (the shard or socket stopped meanwhile). Retryable. */
  PUBLISH_FAILED: 'SHARDLINE_PUBLISH_FAILED',
  /** A protocol v1 command is malformed (a reply with this code; the socket stays open). */
  BAD_COMMAND: 'SHARDLINE_BAD_COMMAND',
  /** The HTTP publish API: missing or unknown bearer key. */
  API_UNAUTHORIZED: 'SHARDLINE_API_UNAUTHORIZED',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** The close code sent to the client for errors that end one socket. */
export const closeCodeFor = {
  [ErrorCode.SLOW_CONSUMER]: CloseCode.POLICY_VIOLATION,
  [ErrorCode.HANDLER_FAILED]: CloseCode.INTERNAL_ERROR,
} as const;

/** The process exit status for errors that stop the server. */
export function exitCodeFor(code: string): number {
  switch (code) {
    case ErrorCode.CONFIG_INVALID:
    case ErrorCode.ARGS_INVALID:
    case ErrorCode.APP_INVALID:
    case ErrorCode.OFFLOAD_INVALID:
      return 2;
    default:
      return 1;
  }
}

export class ShardlineError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = 'ShardlineError';
    this.code = code;
  }
}

/** What offload() rejects with. */
export class OffloadError extends ShardlineError {
  /** For OFFLOAD_TASK_FAILED: the `name` of the error the task threw (e.g. 'TypeError'). */
  readonly taskErrorName: string | undefined;
  constructor(code: ErrorCode, message: string, taskErrorName?: string) {
    super(code, message);
    this.name = 'OffloadError';
    this.taskErrorName = taskErrorName;
  }
}

/** What a Broker rejects with (src/broker/). */
export class BrokerError extends ShardlineError {
  /** True when the same call may succeed later (the broker was unreachable or slow). */
  readonly retryable: boolean;
  constructor(code: ErrorCode, message: string, retryable: boolean) {
    super(code, message);
    this.name = 'BrokerError';
    this.retryable = retryable;
  }
}

/** Errors cross threads as plain data: structured clone drops custom properties. */
export interface WireError {
  code: string;
  message: string;
  stack?: string | undefined;
  /** OFFLOAD_TASK_FAILED: the task's own error name. */
  name?: string | undefined;
  /** Broker errors: whether the same call may succeed later. */
  retryable?: boolean | undefined;
}

export function toWire(err: unknown): WireError {
  if (err instanceof BrokerError) return { code: err.code, message: err.message, retryable: err.retryable };
  if (err instanceof ShardlineError) return { code: err.code, message: err.message };
  if (err instanceof Error) {
    const raw = (err as Error & { code?: unknown }).code;
    const code = typeof raw === 'string' ? raw : 'ERR_UNKNOWN';
    return { code, message: err.message, stack: err.stack };
  }
  return { code: 'ERR_UNKNOWN', message: String(err) };
}

/** Close reasons are at most 123 bytes on the wire (RFC 6455 5.5: control frame payload <= 125). */
export const MAX_CLOSE_REASON_BYTES = 123;

export function truncateReason(reason: string): string {
  if (Buffer.byteLength(reason) <= MAX_CLOSE_REASON_BYTES) return reason;
  let out = Buffer.from(reason).subarray(0, MAX_CLOSE_REASON_BYTES).toString('utf8');
  // A cut inside a multi-byte character decodes to U+FFFD (3 bytes): drop it.
  while (Buffer.byteLength(out) > MAX_CLOSE_REASON_BYTES || out.endsWith('\uFFFD')) out = out.slice(0, -1);
  return out;
}

/**
 * Codes of errors raised inside `shardline/client`: kept in a file of their
 * own so the browser bundle takes them without this catalogue's server parts,
 * and re-exported here so this file still lists every code.
 */
export { ClientErrorCode } from './client/error-codes.js';
