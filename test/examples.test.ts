/**
 * The examples in examples/ run: the config is valid, the chat app works
 * across shards, offloads, and drains.
 */
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { connect } from './helpers/client.js';
import { ROOT, runCli, startServer } from './helpers/server.js';

const CONFIG = join(ROOT, 'examples/shardline.yaml');
const STATS = join(ROOT, 'examples/.chat-stats.json');

describe('examples', () => {
  it('shardline check accepts examples/shardline.yaml', async () => {
    const p = await runCli(['check', '--config', CONFIG], { waitReady: false });
    expect((await p.exited).code).toBe(0);
  });

  it('the chat example: rooms, /nick, /hash in the offload pool, the stop hook, and a clean drain', async () => {
    onTestFinished(() => rmSync(STATS, { force: true }));
    const server = await startServer(['--config', CONFIG, '--shards', '2']);
    const alice = await connect(server.port, '/?room=blue');
    const bob = await connect(server.port, '/?room=blue');
    const carol = await connect(server.port, '/?room=red');
    await alice.waitFor(2); // her own join, then bob's
    alice.ws.send('/nick alice');
    bob.ws.send('hello');
    await bob.waitFor(3); // his own join, alice's rename, his hello (in either order)
    const seen = bob.messages.map(String);
    expect(seen.some((m) => /^\* guest-\w+ is now alice$/.test(m))).toBe(true);
    expect(seen.some((m) => /^guest-\w+: hello$/.test(m))).toBe(true);
    alice.ws.send('/hash abc');
    await alice.waitFor(5);
    expect(alice.messages).toContain('sha256: ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(carol.messages.every((m) => !String(m).includes('hello'))).toBe(true); // another room

    server.signal('SIGTERM');
    const closes = await Promise.all([alice.closed, bob.closed, carol.closed]);
    expect(closes.map((c) => c.code)).toEqual([1001, 1001, 1001]);
    expect((await server.exited).code).toBe(0);
    expect(existsSync(STATS)).toBe(true); // the stop hook ran
  });
});
