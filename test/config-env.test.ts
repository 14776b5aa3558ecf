/**
 * SHARDLINE_* environment overrides: generated from the schema, coerced,
 * precedence flags > env > file > defaults, unknown variables rejected, and
 * Kubernetes service links ignored without breaking start-up.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { coerce, envKeys, envName, readEnv } from '../src/config-env.js';
import { DEFAULTS, ENV_KEYS } from '../src/config.js';
import { connect } from './helpers/client.js';
import { CLI, ROOT, configFile, startServer } from './helpers/server.js';

/** Runs the CLI with exactly `env` (plus PATH), returning exit code, stdout and stderr. */
async function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [CLI, ...args], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** Every leaf path of a nested defaults object. */
function leaves(obj: object, prefix: string[] = []): string[] {
  return Object.entries(obj).flatMap(([k, v]) =>
    v !== null && typeof v === 'object' && !Array.isArray(v) ? leaves(v as object, [...prefix, k]) : [[...prefix, k].join('.')],
  );
}

describe('environment overrides', () => {
  it('names every config key, from the schema, one variable each', () => {
    expect(envName(['drain', 'timeoutMs'])).toBe('SHARDLINE_DRAIN_TIMEOUT_MS');
    expect(envName(['limits', 'maxMessagesPerSecond'])).toBe('SHARDLINE_LIMITS_MAX_MESSAGES_PER_SECOND');
    const names = ENV_KEYS.map((k) => k.name);
    expect(new Set(names).size).toBe(names.length);
    const paths = ENV_KEYS.map((k) => k.path.join('.'));
    for (const key of leaves(DEFAULTS)) expect(paths).toContain(key);
    expect(paths).toContain('app'); // optional keys without a default too
    expect(paths).toContain('offload.module');
    expect(() => envKeys(z.strictObject({ aB: z.number(), a: z.strictObject({ b: z.number() }) }))).toThrow(/both map to SHARDLINE_A_B/);
  });

  it('coerces numbers, booleans, lists and JSON by what the key accepts', () => {
    const keys = envKeys(
      z.strictObject({
        n: z.number().int(),
        flag: z.boolean(),
        shards: z.union([z.literal('auto'), z.number()]),
        list: z.array(z.string()),
        nums: z.array(z.number()),
        objs: z.array(z.strictObject({ name: z.string() })),
        mode: z.enum(['a', 'b']),
      }),
    );
    const k = Object.fromEntries(keys.map((key) => [key.path.join('.'), key]));
    expect(coerce('42', k.n!)).toBe(42);
    expect(coerce('4x', k.n!)).toBe('4x'); // left to the schema to reject, naming the key
    expect(['true', 'TRUE', '1', 'yes', 'on'].map((v) => coerce(v, k.flag!))).toEqual([true, true, true, true, true]);
    expect(['false', '0', 'no', 'off'].map((v) => coerce(v, k.flag!))).toEqual([false, false, false, false]);
    expect(coerce('auto', k.shards!)).toBe('auto');
    expect(coerce('3', k.shards!)).toBe(3);
    expect(coerce('a, b c', k.list!)).toEqual(['a', 'b', 'c']);
    expect(coerce('["a b","c"]', k.list!)).toEqual(['a b', 'c']);
    expect(coerce('1,2', k.nums!)).toEqual([1, 2]);
    expect(coerce('[{"name":"x"}]', k.objs!)).toEqual([{ name: 'x' }]);
    expect(coerce('b', k.mode!)).toBe('b');
    expect(() => coerce('[{"name":', k.objs!)).toThrow(/SHARDLINE_OBJS: objs: not valid JSON/);
  });

  it('treats an empty variable as unset, and ignores service links and the non-config variables', () => {
    const layer = readEnv(
      {
        SHARDLINE_DRAIN_TIMEOUT_MS: '',
        SHARDLINE_IDLE_TIMEOUT_SEC: '60',
        SHARDLINE_PORT: 'tcp://10.0.0.1:9001',
        SHARDLINE_SERVICE_HOST: '10.0.0.1',
        SHARDLINE_SERVICE_PORT: '9001',
        SHARDLINE_SERVICE_PORT_WS: '9001',
        SHARDLINE_PORT_9001_TCP: 'tcp://10.0.0.1:9001',
        SHARDLINE_PORT_9001_TCP_PROTO: 'tcp',
        SHARDLINE_PORT_9001_TCP_PORT: '9001',
        SHARDLINE_PORT_9001_TCP_ADDR: '10.0.0.1',
        SHARDLINE_METRICS_PORT: 'tcp://10.0.0.2:9464', // a Service named shardline-metrics
        SHARDLINE_LOG_LEVEL: 'debug',
        HOME: '/root',
      },
      ENV_KEYS,
    );
    expect(layer.data).toEqual({ idleTimeoutSec: 60 });
    expect(layer.ignored).toHaveLength(9);
    expect(() => readEnv({ SHARDLINE_DRAIN_TIMEOUT: '5' }, ENV_KEYS)).toThrow(/SHARDLINE_DRAIN_TIMEOUT: unknown variable/);
  });

  it('precedence: flags > environment > file > defaults, shown by check --sources', async () => {
    const file = configFile({ port: 7000, host: '127.0.0.2', drain: { timeoutMs: 2000, delayMs: 100 } });
    const env = { SHARDLINE_PORT: '7001', SHARDLINE_DRAIN_TIMEOUT_MS: '3000', SHARDLINE_ALLOWED_ORIGINS: 'https://a.example, https://b.example' };
    const json = await cli(['check', '--config', file, '--port', '7002'], env);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({
      port: 7002, // flag over env over file
      host: '127.0.0.2', // file
      drain: { timeoutMs: 3000, delayMs: 100, barrierMs: 1000 }, // env over file; file beside it; default
      allowedOrigins: ['https://a.example', 'https://b.example'],
    });
    const sources = await cli(['check', '--config', file, '--port', '7002', '--sources'], env);
    const row = (key: string): string[] => (sources.stdout.split('\n').find((l) => l.startsWith(`${key} `)) ?? '').trim().split(/\s{2,}/);
    expect(row('port')).toEqual(['port', '7002', '--port']);
    expect(row('host')).toEqual(['host', '127.0.0.2', file]);
    expect(row('drain.timeoutMs')).toEqual(['drain.timeoutMs', '3000', 'environment SHARDLINE_DRAIN_TIMEOUT_MS']);
    expect(row('drain.barrierMs')).toEqual(['drain.barrierMs', '1000', 'default']);
  });

  it('exits 2 naming the variable for an unknown SHARDLINE_* variable or a bad value, and names the key', async () => {
    const file = configFile({});
    const unknown = await cli(['check', '--config', file], { SHARDLINE_DRAIN_TIMEOUTMS: '5000' });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/^shardline: environment SHARDLINE_DRAIN_TIMEOUTMS: unknown variable/);
    const bad = await cli(['start', '--config', file], { SHARDLINE_DRAIN_CLOSE_CODE: '1006' });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^shardline: environment SHARDLINE_DRAIN_CLOSE_CODE: drain\.closeCode: /);
    const word = await cli(['check', '--config', file], { SHARDLINE_PORT: 'http' });
    expect(word.code).toBe(2);
    expect(word.stderr).toMatch(/SHARDLINE_PORT: port: /);
    expect(word.stderr).not.toMatch(/\n\s+at /);
  });

  it('starts and serves with Kubernetes service-link variables set, one warning naming them, and honours an env override', async () => {
    const server = await startServer(['--shards', '1'], {
      env: {
        SHARDLINE_PORT: 'tcp://10.0.0.1:9001',
        SHARDLINE_SERVICE_HOST: '10.0.0.1',
        SHARDLINE_SERVICE_PORT: '9001',
        SHARDLINE_PORT_9001_TCP_ADDR: '10.0.0.1',
        SHARDLINE_DRAIN_CLOSE_REASON: 'bye from env',
      },
    });
    const warnings = server.logs.filter((l) => String(l.msg).startsWith('ignored Kubernetes service-link variables'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.variables).toEqual(['SHARDLINE_PORT', 'SHARDLINE_PORT_9001_TCP_ADDR', 'SHARDLINE_SERVICE_HOST', 'SHARDLINE_SERVICE_PORT']);
    const c = await connect(server.port);
    c.ws.send('hi');
    await c.waitFor(1);
    server.signal('SIGTERM');
    const closed = await c.closed;
    expect(closed).toMatchObject({ code: 1001, reason: 'bye from env' });
    expect((await server.exited).code).toBe(0);
  });
});
