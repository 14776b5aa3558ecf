/**
 * The close reason of a drain or a roll (the team's shared format):
 *   - no spread window: the configured text as it is (truncated to 123 bytes);
 *   - a spread window (drain.spreadMs / reload.spreadMs > 0): a JSON object of
 *     at most 123 bytes, `{"reason":"server shutting down","retryMs":5000}`,
 *     where retryMs is the window over which clients should spread their
 *     reconnects (a client waits U(0, retryMs) before reconnecting).
 * RFC 6455 5.5.1: a close frame's body is at most 125 bytes, 2 of them the code.
 */
import { MAX_CLOSE_REASON_BYTES, truncateReason } from './errors.js';

export interface CloseHint {
  reason: string;
  retryMs: number;
}

/** The close reason to send; the text is shortened (never the JSON cut) so the whole fits in 123 bytes. */
export function formatCloseReason(reason: string, retryMs: number): string {
  if (retryMs <= 0) return truncateReason(reason);
  const encode = (text: string): string => JSON.stringify({ reason: text, retryMs: Math.round(retryMs) });
  let text = reason;
  // JSON escapes make the byte length non-linear in the text: drop characters until it fits.
  while (Buffer.byteLength(encode(text)) > MAX_CLOSE_REASON_BYTES) text = text.slice(0, -1);
  return encode(text);
}

/** Reads a close reason back: the hint when it is one, null for plain text. */
export function parseCloseReason(raw: string): CloseHint | null {
  if (!raw.startsWith('{')) return null;
  try {
    const v = JSON.parse(raw) as Partial<CloseHint>;
    return typeof v.reason === 'string' && typeof v.retryMs === 'number' && v.retryMs >= 0 ? { reason: v.reason, retryMs: v.retryMs } : null;
  } catch {
    return null;
  }
}
