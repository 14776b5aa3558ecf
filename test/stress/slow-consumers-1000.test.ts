/** npm run test:stress: the publish storm with 1,000 non-reading subscribers, three pairs of runs. */
import { describe, it } from 'vitest';
import { slowConsumers } from '../helpers/storm.js';

describe('stress', () => {
  it('1,000 non-reading subscribers under a publish storm', async ({ annotate }) => {
    await slowConsumers(1_000, annotate, 3);
  }, 300_000);
});
