import { describe, expect, it } from 'vitest';
import { loadUws } from '../src/shard/uws.js';

describe('uWS loader', () => {
  it('loads a native build, never the ws-based fallback, even when UWS_USE_FALLBACK asks for it', () => {
    process.env.UWS_USE_FALLBACK = '1';
    try {
      const { uws, source } = loadUws();
      expect(source).toMatch(/\.node$|^uWebSockets\.js$/);
      expect(typeof uws.App).toBe('function');
      // The fallback's App is a JS class; the native one is a bound C++ function.
      expect(Function.prototype.toString.call(uws.App)).toContain('[native code]');
    } finally {
      delete process.env.UWS_USE_FALLBACK;
    }
  });
});
