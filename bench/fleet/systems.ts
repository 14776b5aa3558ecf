/**
 * The systems the fleet bench compares, each started as a user would:
 *
 *   shardline-1node   one node, 2 shards, memory broker: publisher and subscribers on it
 *   shardline-2nodes  two nodes (processes), 2 shards each, Redis broker: publisher on A, subscribers on B
 *   socketio-2nodes   two Socket.IO processes with @socket.io/redis-adapter: publisher on A, subscribers on B
 *
 * Both two-node systems use the same redis-server (started by the bench).
 * Every server process is preloaded with loop-probe.ts, so the bench can read
 * the event-loop delay of its main thread (shardline: the primary).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ClientKind } from './messages.js';
import { startNode, type Proc } from './procs.js';

export type SystemName = 'shardline-1node' | 'shardline-2nodes' | 'socketio-2nodes';
export const SYSTEMS: readonly SystemName[] = ['shardline-1node', 'shardline-2nodes', 'socketio-2nodes'];

export interface System {
  name: SystemName;
  kind: ClientKind;
  /** Where the publisher connects (node A). */
  pubUrl: string;
  /** Where the subscribers connect (node B; node A on one node). */
  subUrl: string;
  /** Node A, then node B if there is one. */
  nodes: Proc[];
  stop(): Promise<void>;
}

const dist = (rel: string): string => fileURLToPath(new URL(`../${rel}`, import.meta.url));
const PROBE = dist('fleet/loop-probe.js');
/** This checkout's build; `--shardline PATH` measures another one (e.g. a branch's dist/src/cli/main.js). */
export const SHARDLINE_MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const SOCKETIO = dist('baselines/socketio-server.js');

/** The config a user would write for one node (YAML); `redisUrl` null = the default memory broker. */
export function nodeConfig(redisUrl: string | null): string {
  const broker = redisUrl === null ? '' : `broker:\n  type: redis\n  url: ${redisUrl}\n`;
  return `port: 0\nhost: 127.0.0.1\nshards: 2\n${broker}`;
}

async function shardlineNode(main: string, name: string, dir: string, redisUrl: string | null): Promise<Proc> {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, nodeConfig(redisUrl));
  return startNode(name, ['--import', PROBE, main, 'start', '--config', file]);
}

const url = (p: Proc): string => `ws://127.0.0.1:${p.port}/`;

/** Starts one system; throws (with the server's stderr) when it cannot start, e.g. no Redis broker in this build. */
export async function startSystem(name: SystemName, redisUrl: string, shardlineMain = SHARDLINE_MAIN): Promise<System> {
  const dir = mkdtempSync(join(tmpdir(), 'fleet-fanout-'));
  const nodes: Proc[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(nodes.map((n) => n.stop()));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    switch (name) {
      case 'shardline-1node': {
        nodes.push(await shardlineNode(shardlineMain, 'shardline-A', dir, null));
        const a = nodes[0] as Proc;
        return { name, kind: 'shardline', pubUrl: url(a), subUrl: url(a), nodes, stop };
      }
      case 'shardline-2nodes': {
        nodes.push(await shardlineNode(shardlineMain, 'shardline-A', dir, redisUrl));
        nodes.push(await shardlineNode(shardlineMain, 'shardline-B', dir, redisUrl));
        const [a, b] = nodes as [Proc, Proc];
        return { name, kind: 'shardline', pubUrl: url(a), subUrl: url(b), nodes, stop };
      }
      case 'socketio-2nodes': {
        for (const n of ['socketio-A', 'socketio-B']) nodes.push(await startNode(n, ['--import', PROBE, SOCKETIO, '--port', '0', '--redis', redisUrl]));
        const [a, b] = nodes as [Proc, Proc];
        return { name, kind: 'socketio', pubUrl: `http://127.0.0.1:${a.port}`, subUrl: `http://127.0.0.1:${b.port}`, nodes, stop };
      }
    }
  } catch (err) {
    await stop();
    throw err;
  }
}
