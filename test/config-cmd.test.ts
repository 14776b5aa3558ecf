/**
 * `shardline config defaults|schema|env`: the defaults as YAML, the JSON
 * Schema (draft-07) with the rules .refine() loses restored, the variables.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { z } from 'zod';
import { ENV_KEYS, configSchema, validateConfig } from '../src/config.js';
import { RESTORED } from '../src/config-json-schema.js';
import { CLI, ROOT, configFile } from './helpers/server.js';

async function out(args: string[]): Promise<string> {
  return (await promisify(execFile)(process.execPath, [CLI, ...args], { cwd: ROOT })).stdout;
}

/** Dotted paths of every key whose schema carries a .refine() (a 'custom' check). */
function refinedKeys(schema: z.core.$ZodType, path: string[] = []): string[] {
  let s = schema;
  for (;;) {
    const d = s._zod.def as unknown as { type: string; innerType?: z.core.$ZodType };
    if (d.innerType && d.type !== 'object') s = d.innerType;
    else break;
  }
  const d = s._zod.def as unknown as { type: string; shape?: Record<string, z.core.$ZodType>; checks?: { _zod: { def: { check: string } } }[] };
  if (d.type === 'object' && d.shape) return Object.entries(d.shape).flatMap(([k, v]) => refinedKeys(v, [...path, k]));
  return (d.checks ?? []).some((c) => c._zod.def.check === 'custom') ? [path.join('.')] : [];
}

describe('shardline config', () => {
  it('defaults: YAML that parses to the schema defaults and is itself a valid config file', async () => {
    const yaml = await out(['config', 'defaults']);
    const data = parse(yaml) as Record<string, unknown>;
    expect(data).toEqual(configSchema.parse({}));
    expect(data).toMatchObject({ drain: { timeoutMs: 10_000 }, offload: { maxQueue: 'auto' } });
    const file = configFile(data);
    expect(JSON.parse(await out(['check', '--config', file]))).toMatchObject({ port: 9001 });
  });

  it('env: one line per config key with its default', async () => {
    const lines = (await out(['config', 'env'])).trim().split('\n').slice(1);
    expect(lines.map((l) => l.split(/\s+/)[0])).toEqual(ENV_KEYS.map((k) => k.name));
    expect(lines.find((l) => l.startsWith('SHARDLINE_DRAIN_TIMEOUT_MS '))).toMatch(/drain\.timeoutMs\s+integer\s+10000$/);
  });

  it('schema: draft-07, strict, and restores every rule a .refine() holds', async () => {
    const schema = JSON.parse(await out(['config', 'schema'])) as Record<string, unknown>;
    expect(schema.$schema).toBe('http://json-schema.org/draft-07/schema#');
    expect(schema.additionalProperties).toBe(false);
    // A key refined in src/config.ts without a rule in RESTORED would silently accept anything in editors.
    expect(Object.keys(RESTORED).sort()).toEqual(refinedKeys(configSchema).sort());

    const ajv = new Ajv({ strict: false });
    const validate = ajv.compile(schema);
    const samples: Record<string, unknown>[] = [
      {},
      configSchema.parse({}),
      { $schema: './shardline.schema.json', port: 1 },
      { drain: { closeCode: 1001 } },
      { drain: { closeCode: 1006 } },
      { drain: { closeCode: 1004 } },
      { drain: { closeCode: 3000 } },
      { drain: { closeCode: 5000 } },
      { drain: { closeReason: 'x'.repeat(123) } },
      { drain: { closeReason: 'x'.repeat(124) } },
      { backpressure: { maxUnackedBytes: 0 } },
      { backpressure: { maxUnackedBytes: 100 } },
      { backpressure: { maxUnackedBytes: 16384 } },
      { limits: { shardHeapMb: 0 } },
      { limits: { shardHeapMb: 31 } },
      { limits: { shardHeapMb: 32 } },
      { idleTimeoutSec: 0 },
      { idleTimeoutSec: 7 },
      { idleTimeoutSec: 8 },
      { idleTimeoutSec: 961 },
      { shards: 'auto' },
      { shards: 0 },
      { drain: { timeoutMS: 1 } },
      { bogus: 1 },
    ];
    for (const sample of samples) {
      let zodOk = true;
      try {
        validateConfig(sample, 'sample');
      } catch {
        zodOk = false;
      }
      expect({ sample, ok: validate(sample) }).toEqual({ sample, ok: zodOk });
    }
  });
});
