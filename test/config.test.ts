/**
 * Config: defaults, precedence, and bad input → exit 2 naming the file and the key.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULTS, resolveConfig } from '../src/config.js';
import { FIXTURES, ROOT, configFile, runCli, startServer, tempFile } from './helpers/server.js';

const write = tempFile;

describe('resolveConfig', () => {
  it('fills every default', () => {
    const c = resolveConfig({});
    expect(c.port).toBe(9001);
    expect(c.host).toBe('0.0.0.0');
    expect(c.shards).toBeGreaterThanOrEqual(1);
    expect(c.app).toBeNull();
    expect(c.drain).toEqual(DEFAULTS.drain);
    expect(c.backpressure).toEqual(DEFAULTS.backpressure);
    expect(c.limits).toEqual(DEFAULTS.limits);
    expect(c.idleTimeoutSec).toBe(30);
    expect(Object.isFrozen(c.drain)).toBe(true);
  });

  it('lets flags override the file and the file override defaults; app is relative to the file', () => {
    const file = write('s.yaml', `port: 7000\nshards: 3\nhost: 127.0.0.1\napp: ${join(FIXTURES, 'hang.mjs')}\ndrain:\n  delayMs: 250\n`);
    const c = resolveConfig({ file, overrides: { port: 7001 } });
    expect(c).toMatchObject({ port: 7001, shards: 3, host: '127.0.0.1', app: join(FIXTURES, 'hang.mjs') });
    expect(c.drain).toMatchObject({ delayMs: 250, timeoutMs: 10_000, closeCode: 1001 });

    const dir = mkdtempSync(join(tmpdir(), 'shardline-rel-'));
    writeFileSync(join(dir, 'app.mjs'), 'export default {}\n');
    writeFileSync(join(dir, 'c.json'), JSON.stringify({ app: './app.mjs' }));
    expect(resolveConfig({ file: join(dir, 'c.json'), cwd: '/' }).app).toBe(join(dir, 'app.mjs'));
  });

  it.each([
    ['unknown key', { drain: { timeoutMS: 5 } }, 'drain.timeoutMS'],
    ['unknown top-level key', { prot: 1 }, 'prot'],
    ['wrong type', { port: 'abc' }, 'port'],
    ['out of range', { port: 70000 }, 'port'],
    ['bad enum', { backpressure: { onOverflow: 'explode' } }, 'backpressure.onOverflow'],
    ['reserved close code', { drain: { closeCode: 1006 } }, 'drain.closeCode'],
    ['idle timeout uWS cannot do', { idleTimeoutSec: 5 }, 'idleTimeoutSec'],
    ['shards zero', { shards: 0 }, 'shards'],
  ])('rejects %s naming the key', (_name, data, key) => {
    const file = write('bad.json', JSON.stringify(data));
    expect(() => resolveConfig({ file })).toThrow(
      expect.objectContaining({ code: 'SHARDLINE_CONFIG_INVALID', message: expect.stringContaining(`${file}: ${key}:`) }),
    );
  });
});

describe('shardline CLI with bad input', () => {
  async function exitOf(args: string[]): Promise<{ code: number; stderr: string }> {
    const p = await runCli(args, { waitReady: false });
    const { code } = await p.exited;
    return { code, stderr: p.stderr() };
  }

  it.each([
    ['unknown key', 'c.yaml', 'drain:\n  timeoutMS: 5\n', 'drain.timeoutMS'],
    ['wrong type', 'c.json', '{"limits":{"maxPayloadBytes":"big"}}', 'limits.maxPayloadBytes'],
    ['missing app file', 'c.json', '{"app":"./nowhere.mjs"}', 'app'],
    ['broken YAML', 'c.yaml', 'port: [1,\n', 'not valid YAML'],
  ])('start exits 2 on %s, naming the file and the key, without a stack trace', async (_name, fname, text, key) => {
    const file = write(fname, text);
    const { code, stderr } = await exitOf(['start', '--config', file]);
    expect(code).toBe(2);
    expect(stderr).toContain(file);
    expect(stderr).toContain(key);
    expect(stderr).not.toMatch(/\n\s+at /);
    expect(stderr.trim().split('\n')).toHaveLength(1);
  });

  it('exits 2 naming the module when the app has no default export', async () => {
    const app = join(FIXTURES, 'no-default.mjs');
    const file = write('c.json', JSON.stringify({ app }));
    const check = await exitOf(['check', '--config', file]);
    expect(check.code).toBe(2);
    expect(check.stderr).toContain(app);
    expect(check.stderr).toContain('default export');
    const start = await exitOf(['start', '--config', file, '--port', '0']);
    expect(start.code).toBe(2);
    expect(start.stderr).toContain(app);
    expect(start.stderr).not.toMatch(/\n\s+at /);
  });

  it.each([
    ['throws at import', 'throw new Error("no database here");\nexport default {};\n', 'no database here'],
    ['has a syntax error', 'export default {\n  message(conn {\n};\n', 'SyntaxError'],
    ['exports a hook that is not a function', 'export default { message: 42 };\n', "hook 'message' must be a function"],
    ['misspells a hook', 'export default { onMessage() {} };\n', "unknown hook 'onMessage'"],
  ])('start exits 2 naming the module when the app %s', async (_name, source, why) => {
    const app = write('app.mjs', source);
    const { code, stderr } = await exitOf(['start', '--port', '0', '--app', app]);
    expect(code).toBe(2);
    expect(stderr).toContain(app);
    expect(stderr).toContain(why);
    expect(stderr).not.toMatch(/\n\s+at /);
  });

  it.each([[['start', '--port', 'x']], [['start', '--bogus']], [['frobnicate']], [['check']]])('exits 2 on bad arguments %j', async (args) => {
    const { code, stderr } = await exitOf(args);
    expect(code).toBe(2);
    expect(stderr).toMatch(/^shardline: command line: /);
  });

  it('check prints the resolved config; --help and --version work', async () => {
    const file = write('ok.yaml', 'port: 7777\ndrain:\n  timeoutMs: 3000\n');
    const p = await runCli(['check', '--config', file, '--shards', '2'], { waitReady: false });
    expect((await p.exited).code).toBe(0);
    const printed = JSON.parse(p.logs.map((l) => l.msg).join('') || '{}') as Record<string, unknown>;
    expect(printed).toMatchObject({ port: 7777, shards: 2, app: null, drain: { timeoutMs: 3000, delayMs: 0, closeCode: 1001 } });
    const help = await runCli(['--help'], { waitReady: false });
    expect((await help.exited).code).toBe(0);
    const version = await runCli(['--version'], { waitReady: false });
    expect((await version.exited).code).toBe(0);
    const { version: expected } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    expect(version.logs[0]?.msg).toBe(expected);
  });

  it("warns at start when uWS's close-handshake timeout (set by idleTimeoutSec) is longer than drain.timeoutMs", async () => {
    const warning = 'a client that vanished can hold the exit past drain.timeoutMs';
    const risky = await startServer(['--shards', '1', '--config', configFile({ idleTimeoutSec: 120 })]);
    expect(risky.logs.find((l) => l.msg.startsWith(warning))).toMatchObject({ closeHandshakeMs: 16_000, drainTimeoutMs: 10_000 });
    risky.signal('SIGTERM');
    expect((await risky.exited).code).toBe(0);
    const fine = await startServer(['--shards', '1']); // the defaults: idleTimeoutSec 30, so 8 s
    expect(fine.logs.some((l) => l.msg.startsWith(warning))).toBe(false);
    fine.signal('SIGTERM');
    expect((await fine.exited).code).toBe(0);
  });
});
