/** What the client rejects with and emits as `error`. */
import type { ClientErrorCode } from './error-codes.js';

export class ClientError extends Error {
  /** A ClientErrorCode, or the server's own code (SHARDLINE_BAD_COMMAND, ...) for a rejected command. */
  readonly code: ClientErrorCode | string;
  /** From the server's reply: the same command may succeed later. */
  readonly retryable: boolean;
  /** For TERMINAL_CLOSE: the close code the server sent. */
  readonly closeCode: number | undefined;

  constructor(code: ClientErrorCode | string, message: string, opts: { retryable?: boolean; closeCode?: number; cause?: unknown } = {}) {
    super(message);
    this.name = 'ClientError';
    this.code = code;
    this.retryable = opts.retryable ?? false;
    this.closeCode = opts.closeCode;
    if (opts.cause !== undefined) (this as { cause?: unknown }).cause = opts.cause;
  }
}
