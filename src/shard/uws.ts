/**
 * The one place that loads uWebSockets.js.
 *
 * Preference: an installed official `uWebSockets.js` (it throws when its
 * binary does not load), else the pinned `@trufflesuite/uws-js-unofficial`
 * build. That package's entry point silently falls back to a slow `ws`-based
 * shim when the binary does not load (or when UWS_USE_FALLBACK is set), so we
 * never go through it: we load its native binary by path, and fail loudly
 * when that is impossible.
 */
import { createRequire } from 'node:module';
import type * as UWS from '@trufflesuite/uws-js-unofficial';
import { ErrorCode, ShardlineError } from '../errors.js';

export type { UWS };

const require = createRequire(import.meta.url);
const UNOFFICIAL = '@trufflesuite/uws-js-unofficial';

export interface LoadedUws {
  uws: typeof UWS;
  /** Which package and binary were loaded, for the `ready` log line. */
  source: string;
}

let loaded: LoadedUws | null = null;

function isNative(mod: unknown): mod is typeof UWS {
  const m = mod as Partial<typeof UWS> | null;
  return typeof m?.App === 'function' && typeof m.us_listen_socket_close === 'function';
}

export function loadUws(): LoadedUws {
  if (loaded !== null) return loaded;
  const tried: string[] = [];

  try {
    const official: unknown = require('uWebSockets.js');
    if (isNative(official)) return (loaded = { uws: official, source: 'uWebSockets.js' });
    tried.push('uWebSockets.js: loaded but not a native build');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'MODULE_NOT_FOUND') tried.push(`uWebSockets.js: ${(err as Error).message.split('\n')[0]}`);
  }

  const binary = `binaries/uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;
  try {
    const mod: unknown = require(`${UNOFFICIAL}/${binary}`);
    if (isNative(mod)) return (loaded = { uws: mod, source: `${UNOFFICIAL}/${binary}` });
    tried.push(`${UNOFFICIAL}: ${binary} is not a uWS binary`);
  } catch (err) {
    tried.push(`${UNOFFICIAL}: ${(err as Error).message.split('\n')[0]}`);
  }

  throw new ShardlineError(
    ErrorCode.UWS_UNAVAILABLE,
    `no native uWebSockets.js build loads on node ${process.version} (${process.platform}-${process.arch}, ABI ${process.versions.modules}); ` +
      `shardline refuses to run on the ws-based fallback. Tried: ${tried.join('; ')}`,
  );
}
