/** The node's topic sequencer (src/primary/sequencer.ts): order, duplicates, gap fills and resyncs, with a history it reads from. */
import { describe, expect, it } from 'vitest';
import type { HistoryPage, Publication } from '../dist/src/broker/broker.js';
import { GAP_GRACE_MS, Sequencer } from '../dist/src/primary/sequencer.js';

const pub = (offset: number, epoch = 'e1'): Publication => ({ topic: 't', data: String(offset), binary: false, offset, epoch, origin: 'n', time: 0 });

function harness(stream: Publication[], top: () => { offset: number; epoch: string }) {
  const delivered: number[] = [];
  const resyncs: string[] = [];
  let reads = 0;
  let failReads = false;
  const seq = new Sequencer({
    deliver: (p) => delivered.push(p.offset as number),
    resync: (_t, reason) => resyncs.push(reason),
    policy: () => ({ size: 100, ttlSec: 60 }),
    read: async (_topic, since, limit): Promise<HistoryPage> => {
      reads++;
      if (failReads) throw Object.assign(new Error('down'), { code: 'SHARDLINE_BROKER_UNAVAILABLE' });
      return { publications: stream.filter((p) => (p.offset as number) > since).slice(0, limit), top: top() };
    },
    log: () => {},
  });
  return { seq, delivered, resyncs, reads: () => reads, setFail: (f: boolean) => (failReads = f) };
}

const settle = () => new Promise((r) => setTimeout(r, GAP_GRACE_MS * 3));

describe('sequencer', () => {
  it('delivers in offset order, drops duplicates, and waits briefly for a late publication before reading history', async () => {
    const h = harness([], () => ({ offset: 3, epoch: 'e1' }));
    h.seq.accept(pub(1));
    h.seq.accept(pub(3));
    h.seq.accept(pub(1));
    h.seq.accept(pub(2)); // arrives within the grace: no history read
    h.seq.accept(pub(3));
    await settle();
    expect(h.delivered).toEqual([1, 2, 3]);
    expect(h.reads()).toBe(0);
    expect(h.seq.stats.duplicates).toBe(2);
  });

  it('fills a gap from history once, for all local subscribers', async () => {
    const stream = [1, 2, 3, 4, 5, 6].map((o) => pub(o));
    const h = harness(stream, () => ({ offset: 6, epoch: 'e1' }));
    h.seq.accept(pub(1));
    h.seq.accept(pub(5)); // 2..4 lost by pub/sub
    h.seq.accept(pub(6));
    await settle();
    expect(h.delivered).toEqual([1, 2, 3, 4, 5, 6]);
    expect(h.seq.stats.publicationsFilled).toBe(3);
    expect(h.resyncs).toEqual([]);
  });

  it('resyncs when the gap was trimmed, and when the epoch changes, then goes on from the new position', async () => {
    const h = harness([pub(7), pub(8)], () => ({ offset: 8, epoch: 'e1' }));
    h.seq.accept(pub(1));
    h.seq.accept(pub(8)); // 2..7 missing, the history starts at 7
    await settle();
    expect(h.resyncs).toEqual(['trimmed']);
    expect(h.delivered).toEqual([1, 7, 8]);
    h.seq.accept(pub(1, 'e2')); // history lost: a new incarnation
    expect(h.resyncs).toEqual(['trimmed', 'epoch']);
    expect(h.delivered).toEqual([1, 7, 8, 1]);
  });

  it('after a broker outage re-reads every topic from its last offset; a failed read is retried at the next recheck', async () => {
    const stream = [1, 2, 3, 4].map((o) => pub(o));
    const h = harness(stream, () => ({ offset: 4, epoch: 'e1' }));
    h.seq.accept(pub(1));
    h.setFail(true);
    h.seq.recheckAll();
    await settle();
    expect(h.seq.stats.fillsFailed).toBe(1);
    expect(h.delivered).toEqual([1]);
    h.setFail(false);
    h.seq.recheckAll();
    await settle();
    expect(h.delivered).toEqual([1, 2, 3, 4]);
  });
});
