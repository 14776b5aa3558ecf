/**
 * Non-reading clients under a publish storm: each is cut off (1008) once its
 * queue bound is reached, server memory stays under a stated bound, and the
 * reading clients still get every publication in order and answers to their
 * echoes. test/stress/ runs it with 1,000 non-reading clients.
 */
import { describe, it } from 'vitest';
import { slowConsumers } from './helpers/storm.js';

describe('slow consumers', () => {
  it('200 non-reading subscribers under a publish storm: each cut off with 1008, memory bounded, readers unaffected', async ({ annotate }) => {
    await slowConsumers(200, annotate);
  }, 120_000);
});
