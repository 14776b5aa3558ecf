/** The close-code table: what the client does after each code. */
import { describe, expect, it } from 'vitest';
import { closeAction, parseCloseReason, POLICY_FLOOR_MS, TRY_AGAIN_FLOOR_MS } from '../src/client/close-codes.js';

describe('closeAction', () => {
  it('1001 and 1012 after a hello are planned, with the retry window of a JSON reason', () => {
    expect(closeAction(1001, 'server shutting down', true)).toEqual({ kind: 'planned', retryMs: undefined });
    expect(closeAction(1012, '{"reason":"server restarting","retryMs":5000}', true)).toEqual({ kind: 'planned', retryMs: 5000 });
    expect(closeAction(1001, '{"reason":"server shutting down","retryMs":0}', true)).toEqual({ kind: 'planned', retryMs: 0 });
  });

  it('1001 before the hello is a failure: a node accepting then closing cannot make clients spin', () => {
    expect(closeAction(1001, '{"reason":"x","retryMs":100}', false)).toEqual({ kind: 'failure', minMs: 0 });
  });

  it('transient codes take the failure backoff', () => {
    for (const code of [1000, 1005, 1006, 1011, 1014, 1015, 3000, 3499, 4000, 4499, 2000]) {
      expect(closeAction(code, '', true), String(code)).toEqual({ kind: 'failure', minMs: 0 });
    }
  });

  it('1008 backs off at least 1 s, 1013 at least 5 s or the server hint', () => {
    expect(closeAction(1008, 'slow consumer', true)).toEqual({ kind: 'failure', minMs: POLICY_FLOOR_MS });
    expect(closeAction(1013, 'overloaded', true)).toEqual({ kind: 'failure', minMs: TRY_AGAIN_FLOOR_MS });
    expect(closeAction(1013, '{"reason":"overloaded","retryMs":30000}', true)).toEqual({ kind: 'failure', minMs: 30_000 });
  });

  it('codes that resending the same bytes cannot fix are terminal', () => {
    for (const code of [1002, 1003, 1007, 1009, 3500, 3999, 4500, 4999]) {
      expect(closeAction(code, '', true), String(code)).toEqual({ kind: 'terminal' });
      expect(closeAction(code, '', false), String(code)).toEqual({ kind: 'terminal' });
    }
  });
});

describe('parseCloseReason', () => {
  it('reads the reason and retryMs of a JSON reason', () => {
    expect(parseCloseReason('{"reason":"server shutting down","retryMs":5000}')).toEqual({ text: 'server shutting down', retryMs: 5000 });
  });

  it('keeps a plain reason as it is, and ignores a bad retryMs', () => {
    expect(parseCloseReason('server shutting down')).toEqual({ text: 'server shutting down', retryMs: undefined });
    expect(parseCloseReason('{not json')).toEqual({ text: '{not json', retryMs: undefined });
    expect(parseCloseReason('{"reason":"x","retryMs":-5}')).toEqual({ text: 'x', retryMs: undefined });
    expect(parseCloseReason('{"reason":"x","retryMs":"5000"}')).toEqual({ text: 'x', retryMs: undefined });
  });
});

describe('judge (positions)', () => {
  it('drops duplicates, delivers the next offset, flags gaps and new epochs', async () => {
    const { judge } = await import('../src/client/subscription.js');
    const at = { offset: 5, epoch: 'e' };
    expect(judge(undefined, 9, 'e')).toBe('deliver');
    expect(judge(at, undefined, undefined)).toBe('deliver'); // a topic without history
    expect(judge(at, 6, 'e')).toBe('deliver');
    expect(judge(at, 5, 'e')).toBe('duplicate');
    expect(judge(at, 1, 'e')).toBe('duplicate');
    expect(judge(at, 7, 'e')).toBe('gap');
    expect(judge(at, 6, 'f')).toBe('gap');
  });
});
