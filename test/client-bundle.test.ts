/** The prebuilt browser file (npm run build): its size budget and what it exports. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { expect, it } from 'vitest';

const BUNDLE = fileURLToPath(new URL('../dist/client/shardline-client.min.js', import.meta.url));
/** Issue 11: 6 KB gzipped. */
const BUDGET_GZIP_BYTES = 6 * 1024;

it('fits the 6 KB gzip budget (size printed)', () => {
  const raw = readFileSync(BUNDLE);
  const gz = gzipSync(raw, { level: 9 }).length;
  console.log(`shardline/client browser bundle: ${raw.length} bytes minified, ${gz} bytes gzipped (budget ${BUDGET_GZIP_BYTES})`);
  expect(gz).toBeLessThanOrEqual(BUDGET_GZIP_BYTES);
  // No Node built-in, no require: it must load in a page as it is.
  expect(raw.toString()).not.toMatch(/\brequire\(|from\s*["']node:/);
});

it('is reachable through the package exports: shardline/client and shardline/client/browser', async () => {
  const browser = (await import('shardline/client/browser')) as Record<string, unknown>;
  const node = (await import('shardline/client')) as Record<string, unknown>;
  expect(typeof browser.createClient).toBe('function');
  expect(typeof node.createClient).toBe('function');
  expect(Object.keys(browser).sort()).toEqual(Object.keys(node).sort());
  expect(browser.ClientErrorCode).toEqual(node.ClientErrorCode);
});
