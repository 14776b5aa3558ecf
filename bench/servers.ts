/**
 * The servers the matrix compares, as shell commands for `bench drain`
 * (each prints {"msg":"ready","port":N} and drains or stops on SIGTERM).
 */
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const NODE = JSON.stringify(process.execPath);
const path = (rel: string): string => JSON.stringify(fileURLToPath(new URL(`../../${rel}`, import.meta.url)));

export type ServerName = 'uws-raw' | 'ws' | 'shardline-1' | 'shardline-2';
export const SERVERS: readonly ServerName[] = ['uws-raw', 'ws', 'shardline-1', 'shardline-2'];
export const BASELINES = ['uws-raw', 'ws'] as const;

/** Threads that serve sockets: what "equal thread count" compares. */
export const THREADS: Record<ServerName, number> = { 'uws-raw': 1, ws: 1, 'shardline-1': 1, 'shardline-2': 2 };

/** The command; `slow` selects a message handler that takes SHARDLINE_BENCH_HANDLER_MS. */
export function serverCommand(name: ServerName, slow: boolean): string {
  switch (name) {
    case 'uws-raw':
      return `${NODE} ${path('dist/bench/baselines/uws-raw.js')} --port 0`;
    case 'ws':
      return `${NODE} ${path('dist/bench/baselines/ws-server.js')} --port 0`;
    case 'shardline-1':
    case 'shardline-2': {
      const app = slow ? ` --app ${path('dist/bench/apps/slow-echo.js')}` : '';
      return `${NODE} ${path('dist/src/cli/main.js')} start --port 0 --host 127.0.0.1 --shards ${name === 'shardline-1' ? 1 : 2}${app}`;
    }
  }
}
