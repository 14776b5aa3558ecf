/**
 * Many connections with a request in flight on each at SIGTERM: every reply
 * arrives before its socket's 1001. test/stress/ runs the same at 19,000.
 */
import { describe, it } from 'vitest';
import { inflightDrain } from './helpers/inflight.js';

describe('load', () => {
  it('2,000 connections with a 100 ms request in flight each: zero replies lost, all 1001, exit 0', async () => {
    await inflightDrain(2_000, 1_000);
  });
});
