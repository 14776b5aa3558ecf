/**
 * A half-open TCP peer: a client in a network namespace of our own whose link
 * is then cut, so it neither answers the close frame nor ACKs anything. The
 * drain must still end, and with the default config the process must exit 0
 * within drain.timeoutMs: uWS drops the socket after its close-handshake
 * timeout (8 s with the default idleTimeoutSec 30). Needs root and iproute2 (`ip netns`);
 * skipped where they are missing. The namespace's link-local addresses
 * (169.254.77.0/30) exist only on this machine, for this test.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { describe, expect, it, onTestFinished } from 'vitest';
import { FIXTURES, ROOT, startServer } from './helpers/server.js';

const NS = `shl-ho-${process.pid}`;
const HOST_IF = `shlh${process.pid % 100000}`;
const NS_IF = `shlc${process.pid % 100000}`;
const HOST_ADDR = '169.254.77.1';
const NS_ADDR = '169.254.77.2';

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: 'pipe' });
}

function canUseNetns(): boolean {
  if (process.getuid?.() !== 0) return false;
  try {
    execFileSync('ip', ['netns', 'list'], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
}

describe('half-open peer', () => {
  it.skipIf(!canUseNetns())(
    'a peer that vanished cannot hold the exit past drain.timeoutMs with the default config',
    async ({ annotate }) => {
      onTestFinished(() => {
        for (const cmd of [
          ['link', 'del', HOST_IF],
          ['netns', 'del', NS],
        ]) {
          try {
            ip(...cmd);
          } catch {
            // already gone
          }
        }
      });
      // A run killed mid-test leaves its namespace and veth (same addresses) behind: remove them first.
      for (const ns of execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).matchAll(/^(shl-ho-\d+)/gm)) {
        try {
          ip('netns', 'del', ns[1] as string);
        } catch {
          // gone meanwhile
        }
      }
      for (const link of execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).matchAll(/^\d+: (shlh\d+)[@:]/gm)) {
        try {
          ip('link', 'del', link[1] as string);
        } catch {
          // gone with its namespace
        }
      }
      ip('netns', 'add', NS);
      ip('link', 'add', HOST_IF, 'type', 'veth', 'peer', 'name', NS_IF);
      ip('link', 'set', NS_IF, 'netns', NS);
      ip('addr', 'add', `${HOST_ADDR}/30`, 'dev', HOST_IF);
      ip('link', 'set', HOST_IF, 'up');
      ip('netns', 'exec', NS, 'ip', 'addr', 'add', `${NS_ADDR}/30`, 'dev', NS_IF);
      ip('netns', 'exec', NS, 'ip', 'link', 'set', NS_IF, 'up');

      const server = await startServer(['--shards', '1', '--host', '0.0.0.0']);
      const client = spawn('ip', ['netns', 'exec', NS, process.execPath, `${FIXTURES}netns-client.mjs`, HOST_ADDR, String(server.port)], { cwd: ROOT });
      onTestFinished(() => {
        client.kill('SIGKILL');
      });
      const first = await createInterface({ input: client.stdout })[Symbol.asyncIterator]().next();
      expect(String(first.value)).toBe('open');

      ip('link', 'set', HOST_IF, 'down'); // from now on nothing reaches the peer, and nothing comes back
      const sent = server.signal('SIGTERM');
      const { code, at } = await server.exited;
      expect(code).toBe(0);
      // uWS keeps an ended socket until the peer's FIN or its close-handshake
      // timeout (8 s with idleTimeoutSec 30, checked on a 4 s tick): the process
      // exit still comes within the default drain.timeoutMs of 10 s.
      expect(at - sent).toBeLessThan(10_000);
      await annotate(`half-open peer: exit 0 ${Math.round(at - sent)} ms after SIGTERM`);
      const report = server.logs.find((l) => l.msg === 'shard drained');
      expect(report).toMatchObject({ connectionsClosed: 1, forced: false });
    },
    30_000,
  );
});
