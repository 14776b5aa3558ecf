/** The outbox: bounded, keyed, resent only after a connection death, every promise settled once. */
import { describe, expect, it, vi } from 'vitest';
import { ClientError } from '../src/client/client-error.js';
import { ClientErrorCode } from '../src/client/error-codes.js';
import { Outbox } from '../src/client/outbox.js';
import { Pacer } from '../src/client/pacer.js';

const add = (o: Outbox, topic: string, data: unknown, key: string): Promise<unknown> => o.add(topic, Outbox.body(topic, data, key), key);

describe('Outbox', () => {
  it('refuses at once with OUTBOX_FULL past maxMessages, and accepts again once one is acknowledged', async () => {
    const o = new Outbox({ maxMessages: 2, maxBytes: 1 << 20, maxAttempts: 3 });
    const a = add(o, 't', 1, 'k1');
    void add(o, 't', 2, 'k2');
    await expect(add(o, 't', 3, 'k3')).rejects.toMatchObject({ code: 'SHARDLINE_CLIENT_OUTBOX_FULL' });
    expect(o.size).toBe(2);
    const [first] = o.due(0);
    o.markSent(first!, 0);
    o.applied(first!, { offset: 7, epoch: 'e' });
    await expect(a).resolves.toEqual({ offset: 7, epoch: 'e' });
    expect(o.size).toBe(1);
    void add(o, 't', 4, 'k4');
    expect(o.size).toBe(2);
  });

  it('refuses past maxBytes, counting the frame bytes (multi-byte text included)', async () => {
    const o = new Outbox({ maxMessages: 100, maxBytes: 200, maxAttempts: 3 });
    void add(o, 't', 'é'.repeat(50), 'k1'); // 100 bytes of data
    expect(o.bytes).toBeGreaterThan(100);
    await expect(add(o, 't', 'é'.repeat(50), 'k2')).rejects.toMatchObject({ code: 'SHARDLINE_CLIENT_OUTBOX_FULL' });
    expect(o.size).toBe(1);
  });

  it('refuses data JSON cannot carry, before queueing', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => Outbox.body('t', cyclic, 'k')).toThrow(expect.objectContaining({ code: 'SHARDLINE_CLIENT_BAD_ARGUMENT' }));
    expect(() => Outbox.body('t', undefined, 'k')).toThrow(expect.objectContaining({ code: 'SHARDLINE_CLIENT_BAD_ARGUMENT' }));
  });

  it('keeps the key in the body for every resend', () => {
    expect(Outbox.body('t', { a: 1 }, 'client-1')).toBe('"publish":"t","data":{"a":1},"key":"client-1"');
  });

  it('never offers an inflight entry again until its connection died, then in the original order', () => {
    const o = new Outbox();
    for (let i = 1; i <= 3; i++) void add(o, 't', i, `k${i}`);
    for (const e of o.due(0)) o.markSent(e, 0);
    expect(o.due(0)).toHaveLength(0); // a live connection never resends
    o.connectionDied();
    expect(o.due(0).map((e) => e.key)).toEqual(['k1', 'k2', 'k3']);
  });

  it('fails an entry with UNCONFIRMED on its maxAttempts-th connection death', async () => {
    const o = new Outbox({ maxMessages: 10, maxBytes: 1 << 20, maxAttempts: 2 });
    const p = add(o, 't', 1, 'k1');
    const [e] = o.due(0);
    o.markSent(e!, 0);
    o.connectionDied();
    expect(o.size).toBe(1);
    o.markSent(o.due(0)[0]!, 1);
    o.connectionDied();
    await expect(p).rejects.toMatchObject({ code: 'SHARDLINE_CLIENT_UNCONFIRMED' });
    expect(o.size).toBe(0);
    expect(o.bytes).toBe(0);
  });

  it('a queued entry that was never written survives any number of deaths', () => {
    const o = new Outbox({ maxMessages: 10, maxBytes: 1 << 20, maxAttempts: 1 });
    void add(o, 't', 1, 'k1');
    for (let i = 0; i < 10; i++) o.connectionDied();
    expect(o.size).toBe(1);
  });

  it('retries a retryable refusal after its backoff, then rejects with the server code', async () => {
    vi.useFakeTimers();
    try {
      const o = new Outbox({ maxMessages: 10, maxBytes: 1 << 20, maxAttempts: 2 });
      const p = add(o, 't', 1, 'k1');
      const refusal = new ClientError('SHARDLINE_BROKER_UNAVAILABLE', 'broker down', { retryable: true });
      const e = o.due(Date.now())[0]!;
      o.markSent(e, Date.now());
      o.refused(e, refusal, Date.now() + 800);
      expect(o.due(Date.now())).toHaveLength(0);
      expect(o.nextDueAt()).toBe(Date.now() + 800);
      vi.advanceTimersByTime(800);
      const [again] = o.due(Date.now());
      expect(again?.key).toBe('k1');
      o.markSent(again!, Date.now());
      o.refused(again!, refusal, Date.now() + 800);
      await expect(p).rejects.toMatchObject({ code: 'SHARDLINE_BROKER_UNAVAILABLE' });
    } finally {
      vi.useRealTimers();
    }
  });

  it('rejects a non-retryable refusal at once with the server code', async () => {
    const o = new Outbox();
    const p = add(o, 't', 1, 'k1');
    const e = o.due(0)[0]!;
    o.markSent(e, 0);
    o.refused(e, new ClientError('SHARDLINE_TOPIC_INVALID', 'bad topic'), 0);
    await expect(p).rejects.toMatchObject({ code: 'SHARDLINE_TOPIC_INVALID' });
  });

  it('fails entries written longer ago than the idempotency window instead of resending them', async () => {
    const o = new Outbox();
    const p = add(o, 't', 1, 'k1');
    void add(o, 't', 2, 'k2');
    o.markSent(o.due(0)[0]!, 1_000);
    o.connectionDied();
    o.expire(1_000 + 300_001, 300_000);
    await expect(p).rejects.toMatchObject({ code: 'SHARDLINE_CLIENT_UNCONFIRMED' });
    expect(o.due(Infinity).map((e) => e.key)).toEqual(['k2']); // never written: still safe to send
  });

  it('settles each promise once: an acknowledgement after a failure is ignored', async () => {
    const o = new Outbox();
    const p = add(o, 't', 1, 'k1');
    const e = o.due(0)[0]!;
    o.failAll(new ClientError(ClientErrorCode.CLOSED, 'closed'));
    o.applied(e, { offset: 1, epoch: 'e' });
    await expect(p).rejects.toMatchObject({ code: 'SHARDLINE_CLIENT_CLOSED' });
    expect(o.size).toBe(0);
  });
});

describe('Pacer (maxMessagesPerSecond)', () => {
  it('writes at most 80 % of the limit per second and keeps the order', () => {
    vi.useFakeTimers();
    try {
      const out: string[] = [];
      const p = new Pacer(10, (f) => out.push(f));
      for (let i = 0; i < 20; i++) p.send(String(i));
      expect(out).toHaveLength(8);
      vi.advanceTimersByTime(1_000);
      expect(out).toHaveLength(16);
      vi.advanceTimersByTime(1_000);
      expect(out).toEqual(Array.from({ length: 20 }, (_, i) => String(i)));
      p.stop();
    } finally {
      vi.useRealTimers();
    }
  });

  it('without a limit writes everything at once', () => {
    const out: string[] = [];
    const p = new Pacer(0, (f) => out.push(f));
    for (let i = 0; i < 1000; i++) p.send('x');
    expect(out).toHaveLength(1000);
  });
});
