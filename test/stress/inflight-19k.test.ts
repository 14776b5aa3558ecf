/** npm run test:stress: the machine's per-process maximum, with a request in flight on each. */
import { describe, it } from 'vitest';
import { inflightDrain } from '../helpers/inflight.js';

describe('stress', () => {
  it('19,000 connections with a 100 ms request in flight each: zero replies lost, all 1001, exit 0', async () => {
    await inflightDrain(19_000, 9_500);
  }, 180_000);
});
