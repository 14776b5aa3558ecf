/** The close reason of a spread drain or roll (src/close-reason.ts): the team's `{"reason","retryMs"}` hint, never over 123 bytes. */
import { describe, expect, it } from 'vitest';
import { formatCloseReason, parseCloseReason } from '../dist/src/close-reason.js';

describe('close reason', () => {
  it('is the plain text without a window, and the JSON hint with one', () => {
    expect(formatCloseReason('server shutting down', 0)).toBe('server shutting down');
    expect(formatCloseReason('server shutting down', 5000)).toBe('{"reason":"server shutting down","retryMs":5000}');
    expect(parseCloseReason('{"reason":"server restarting","retryMs":1000}')).toEqual({ reason: 'server restarting', retryMs: 1000 });
    expect(parseCloseReason('server shutting down')).toBeNull();
    expect(parseCloseReason('{"reason":1}')).toBeNull();
  });

  it.each([
    ['long ASCII', 'x'.repeat(200)],
    ['multi-byte', 'é'.repeat(100)],
    ['escapes', '"\\\n'.repeat(60)],
    ['emoji', '🚀'.repeat(60)],
  ])('shortens the text, never the JSON, to fit 123 bytes: %s', (_name, reason) => {
    const out = formatCloseReason(reason, 30_000);
    expect(Buffer.byteLength(out)).toBeLessThanOrEqual(123);
    const hint = parseCloseReason(out);
    expect(hint?.retryMs).toBe(30_000);
    expect(reason.startsWith(hint?.reason ?? '\u0000')).toBe(true);
    expect((hint?.reason ?? '').length).toBeGreaterThan(0);
  });
});
