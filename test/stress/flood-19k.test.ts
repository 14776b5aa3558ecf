/** npm run test:stress: the flood and the reconnect storm at 19,000 connections. */
import { describe, it } from 'vitest';
import { floodAndReconnect } from '../helpers/floods.js';

describe('stress', () => {
  it('19,000 connections at once, then a reconnect storm onto a new server on the same port', async ({ annotate }) => {
    await floodAndReconnect(19_000, 9_500, annotate);
  }, 240_000);
});
