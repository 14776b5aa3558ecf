/**
 * Config fuzzing (fast-check): whatever is in the file, resolveConfig either
 * returns a config or throws SHARDLINE_CONFIG_INVALID with a one-line message
 * that starts with the file and names the offending key; the real CLI turns
 * every bad flag or file into exit 2 and one line on stderr.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify as toYaml } from 'yaml';
import { resolveConfig, type ResolvedConfig } from '../src/config.js';
import { FIXTURES, runCli } from './helpers/server.js';

const DIR = mkdtempSync(join(tmpdir(), 'shardline-fuzz-'));
let fileSeq = 0;
afterAll(() => rmSync(DIR, { recursive: true, force: true }));

/** Writes `text` to a fresh file with the given extension; returns its absolute path. */
function write(ext: '.json' | '.yaml' | '.yml', text: string): string {
  const file = join(DIR, `c${++fileSeq}${ext}`);
  writeFileSync(file, text);
  return file;
}

type Outcome = { ok: true } | { ok: false; code: unknown; message: string; name: string };

function outcomeOf(file: string): Outcome {
  let c: ResolvedConfig;
  try {
    c = resolveConfig({ file });
  } catch (err) {
    const e = err as { code?: unknown; message?: unknown; name?: unknown };
    return { ok: false, code: e.code, message: String(e.message), name: String(e.name) };
  }
  // A returned config is complete and frozen.
  expect(typeof c.port).toBe('number');
  expect(Number.isInteger(c.shards) && c.shards >= 1).toBe(true);
  expect(Object.isFrozen(c) && Object.isFrozen(c.drain) && Object.isFrozen(c.limits)).toBe(true);
  return { ok: true };
}

/** The failure contract: our code, the file first, one line. */
function expectConfigError(outcome: Outcome, file: string): asserts outcome is Extract<Outcome, { ok: false }> {
  if (outcome.ok) throw new Error(`expected ${file} to be rejected`);
  expect(outcome, `${outcome.name}: ${outcome.message}`).toMatchObject({ code: 'SHARDLINE_CONFIG_INVALID' });
  expect(outcome.message.startsWith(`${file}: `), outcome.message).toBe(true);
  expect(outcome.message).not.toContain('\n');
}

// ---- (a) arbitrary JSON ----------------------------------------------------

const KNOWN = {
  '': ['port', 'host', 'shards', 'app', 'drain', 'backpressure', 'limits', 'idleTimeoutSec'],
  drain: ['timeoutMs', 'delayMs', 'closeCode', 'closeReason'],
  backpressure: ['maxQueueBytes', 'onOverflow'],
  limits: ['maxPayloadBytes'],
} as const;

/** Anything JSON, biased towards objects that use the real keys (so the schema is exercised, not just "unknown key"). */
const anyValue = fc.jsonValue({ maxDepth: 4 });
const nearConfig = fc.record(
  {
    port: fc.oneof(fc.integer({ min: -10, max: 70_000 }), anyValue),
    host: fc.oneof(fc.constantFrom('127.0.0.1', '', 'localhost'), anyValue),
    shards: fc.oneof(fc.constantFrom('auto', 0, 1, 2, 256, 257, 1.5), anyValue),
    app: fc.oneof(fc.constantFrom(join(FIXTURES, 'hang.mjs'), './nowhere.mjs', '', FIXTURES), anyValue),
    drain: fc.oneof(
      fc.record(
        {
          timeoutMs: fc.oneof(fc.integer({ min: -5, max: 4_000_000 }), anyValue),
          delayMs: fc.oneof(fc.integer({ min: -5, max: 4_000_000 }), anyValue),
          closeCode: fc.oneof(fc.integer({ min: 990, max: 5010 }), anyValue),
          closeReason: fc.oneof(fc.string({ maxLength: 200 }), fc.string({ unit: 'grapheme', maxLength: 60 }), anyValue),
        },
        { requiredKeys: [] },
      ),
      anyValue,
    ),
    backpressure: fc.oneof(
      fc.record(
        {
          maxQueueBytes: fc.oneof(fc.integer({ min: 0, max: 2 ** 32 }), anyValue),
          onOverflow: fc.oneof(fc.constantFrom('close', 'drop-newest', 'CLOSE', ''), anyValue),
        },
        { requiredKeys: [] },
      ),
      anyValue,
    ),
    limits: fc.oneof(fc.record({ maxPayloadBytes: fc.oneof(fc.integer({ min: -1, max: 2 ** 32 }), anyValue) }, { requiredKeys: [] }), anyValue),
    idleTimeoutSec: fc.oneof(fc.integer({ min: -1, max: 1000 }), anyValue),
  },
  { requiredKeys: [] },
);

/** "Billion laughs": nested YAML aliases that expand to 9^9 strings. */
const LAUGHS = [
  'a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]',
  ...'bcdefghi'.split('').map((n, i) => `${n}: &${n} [${Array(9).fill(`*${'abcdefghi'[i]}`).join(', ')}]`),
].join('\n');

describe('resolveConfig on arbitrary files', () => {
  it('returns a config or throws SHARDLINE_CONFIG_INVALID starting with the file, for any JSON value', () => {
    fc.assert(
      fc.property(fc.oneof(anyValue, nearConfig), (value) => {
        const file = write('.json', JSON.stringify(value) ?? 'null');
        const outcome = outcomeOf(file);
        if (!outcome.ok) expectConfigError(outcome, file);
      }),
      { numRuns: 400 },
    );
  });

  it('does the same for the same values written as YAML, and for arbitrary (mostly broken) text', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.oneof(anyValue, nearConfig).map((v) => toYaml(v)),
          fc.string({ maxLength: 200 }),
          fc.string({ unit: 'binary', maxLength: 100 }),
          // JSON that parses to values JSON.stringify cannot produce.
          fc.constantFrom(
            '{"port": 1e400}',
            '{"port": -0}',
            '{"__proto__": {"port": 1}}',
            '{"constructor": 1}',
            '{"drain": {"__proto__": null}}',
            '\ufeff{}',
            '',
            LAUGHS,
          ),
        ),
        fc.constantFrom('.json' as const, '.yaml' as const, '.yml' as const),
        (text, ext) => {
          const file = write(ext, text);
          const outcome = outcomeOf(file);
          if (!outcome.ok) expectConfigError(outcome, file);
        },
      ),
      { numRuns: 400 },
    );
  });
});

// ---- (b) mutations of a valid config ----------------------------------------

const VALID = {
  port: 9001,
  host: '127.0.0.1',
  shards: 2,
  app: join(FIXTURES, 'hang.mjs'),
  drain: { timeoutMs: 10_000, delayMs: 0, closeCode: 1001, closeReason: 'server shutting down' },
  backpressure: { maxQueueBytes: 1_048_576, onOverflow: 'close' },
  limits: { maxPayloadBytes: 65_536 },
  idleTimeoutSec: 120,
};

type Path = readonly [string] | readonly [string, string];
const LEAVES: Path[] = [
  ['port'],
  ['host'],
  ['shards'],
  ['app'],
  ['drain', 'timeoutMs'],
  ['drain', 'delayMs'],
  ['drain', 'closeCode'],
  ['drain', 'closeReason'],
  ['backpressure', 'maxQueueBytes'],
  ['backpressure', 'onOverflow'],
  ['limits', 'maxPayloadBytes'],
  ['idleTimeoutSec'],
];
const STRING_LEAVES = new Set(['host', 'app', 'drain.closeReason', 'backpressure.onOverflow']);

/** A value of the wrong type for the leaf (for `shards`, a string other than 'auto'). */
function wrongType(path: Path): fc.Arbitrary<unknown> {
  const key = path.join('.');
  const common = [
    fc.constant(null),
    fc.boolean(),
    fc.array(fc.integer(), { maxLength: 3 }),
    fc.dictionary(fc.string({ maxLength: 5 }), fc.integer(), { maxKeys: 2 }),
  ];
  if (STRING_LEAVES.has(key)) return fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), ...common);
  return fc.oneof(
    fc.string({ maxLength: 10 }).filter((s) => !(key === 'shards' && s === 'auto')),
    fc.constantFrom('1', '9001', '0x10', ''),
    ...common,
  );
}

/** An out-of-range (or otherwise disallowed) value of the right type. */
const OUT_OF_RANGE: Record<string, fc.Arbitrary<unknown>> = {
  port: fc.oneof(fc.integer({ min: 65_536, max: 2 ** 40 }), fc.integer({ min: -(2 ** 40), max: -1 }), fc.constantFrom(80.5, 1e21)),
  host: fc.constant(''),
  shards: fc.oneof(fc.integer({ min: 257, max: 2 ** 31 }), fc.integer({ min: -100, max: 0 }), fc.constant(1.5)),
  app: fc.constantFrom('', './does-not-exist.mjs', FIXTURES),
  'drain.timeoutMs': fc.oneof(fc.integer({ min: 3_600_001, max: 2 ** 40 }), fc.integer({ min: -1000, max: -1 }), fc.constant(0.5)),
  'drain.delayMs': fc.oneof(fc.integer({ min: 3_600_001, max: 2 ** 40 }), fc.integer({ min: -1000, max: -1 }), fc.constant(10.25)),
  'drain.closeCode': fc.oneof(
    fc.integer({ min: -5, max: 999 }),
    fc.constantFrom(1004, 1005, 1006, 1015, 1001.5),
    fc.integer({ min: 1016, max: 2999 }),
    fc.integer({ min: 5000, max: 70_000 }),
  ),
  'drain.closeReason': fc.oneof(fc.string({ minLength: 124, maxLength: 300 }), fc.constant('é'.repeat(62)), fc.constant('😀'.repeat(31))),
  'backpressure.maxQueueBytes': fc.oneof(fc.integer({ min: -10, max: 1023 }), fc.integer({ min: 2 ** 31 + 1, max: 2 ** 40 }), fc.constant(2048.5)),
  'backpressure.onOverflow': fc.constantFrom('Close', 'drop', 'drop-oldest', 'explode', ''),
  'limits.maxPayloadBytes': fc.oneof(fc.integer({ min: -10, max: 0 }), fc.integer({ min: 2 ** 31 + 1, max: 2 ** 40 }), fc.constant(1.5)),
  idleTimeoutSec: fc.oneof(fc.integer({ min: 1, max: 7 }), fc.integer({ min: 961, max: 100_000 }), fc.integer({ min: -100, max: -1 }), fc.constant(8.5)),
};

/** A key name the object at `section` does not know. */
function unknownKey(section: keyof typeof KNOWN): fc.Arbitrary<string> {
  const known: readonly string[] = KNOWN[section];
  return fc
    .oneof(
      fc.constantFrom('timeoutMS', 'Port', 'max_payload_bytes', 'constructor', 'toString', '__proto__', 'hasOwnProperty', 'valueOf', ' port'),
      fc.string({ minLength: 1, maxLength: 12 }),
    )
    .filter((k) => !known.includes(k));
}

interface Mutation {
  kind: string;
  /** The key path the error must name. */
  path: string;
  config: Record<string, unknown>;
}

function setAt(base: typeof VALID, path: readonly string[], value: unknown): Record<string, unknown> {
  const copy = JSON.parse(JSON.stringify(base)) as Record<string, unknown>;
  if (path.length === 1) {
    Object.defineProperty(copy, path[0] as string, { value, enumerable: true, writable: true, configurable: true });
  } else {
    const section = copy[path[0] as string] as Record<string, unknown>;
    Object.defineProperty(section, path[1] as string, { value, enumerable: true, writable: true, configurable: true });
  }
  return copy;
}

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.constantFrom(...LEAVES).chain((path) => wrongType(path).map((value) => ({ kind: 'wrong type', path: path.join('.'), config: setAt(VALID, path, value) }))),
  fc.constantFrom(...LEAVES).chain((path) =>
    (OUT_OF_RANGE[path.join('.')] as fc.Arbitrary<unknown>).map((value) => ({
      kind: 'out of range',
      path: path.join('.'),
      config: setAt(VALID, path, value),
    })),
  ),
  fc
    .constantFrom('drain', 'backpressure', 'limits')
    .chain((section) =>
      fc
        .oneof(fc.constant(null), fc.integer(), fc.string({ maxLength: 5 }), fc.array(fc.integer(), { maxLength: 2 }), fc.boolean())
        .map((value) => ({ kind: 'section of the wrong type', path: section, config: setAt(VALID, [section], value) })),
    ),
  fc.constantFrom<keyof typeof KNOWN>('', 'drain', 'backpressure', 'limits').chain((section) =>
    fc.tuple(unknownKey(section), anyValue).map(([key, value]) => ({
      kind: 'unknown key',
      path: section === '' ? key : `${section}.${key}`,
      config: setAt(VALID, section === '' ? [key] : [section, key], value),
    })),
  ),
);

describe('resolveConfig on mutations of a valid config', () => {
  it('accepts the unmutated config', () => {
    const file = write('.json', JSON.stringify(VALID));
    expect(outcomeOf(file)).toEqual({ ok: true });
  });

  it('names the offending key path for wrong types, unknown keys at any depth and out-of-range numbers', () => {
    fc.assert(
      fc.property(mutation, fc.boolean(), (m, yaml) => {
        const file = yaml ? write('.yaml', toYaml(m.config)) : write('.json', JSON.stringify(m.config));
        const outcome = outcomeOf(file);
        expect(outcome.ok, `${m.kind} at ${m.path} was accepted: ${JSON.stringify(m.config)}`).toBe(false);
        expectConfigError(outcome, file);
        expect(outcome.message.startsWith(`${file}: ${m.path}: `), `${m.kind} at '${m.path}': got '${outcome.message}'`).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  // YAML's own collection tags turn a section into a Map (`!!omap`), a Set
  // (`!!set`) or an array (`!!pairs`). The schema must not read such a section
  // as an empty mapping and silently use the defaults: either the value given
  // is honoured, or the section is rejected by name.
  it('never silently ignores a section written with a YAML collection tag (!!omap, !!set, !!pairs)', () => {
    const sections = [
      ['drain', 'timeoutMs', fc.integer({ min: 0, max: 3_600_000 }).filter((n) => n !== VALID.drain.timeoutMs)],
      ['backpressure', 'maxQueueBytes', fc.integer({ min: 1024, max: 2 ** 31 }).filter((n) => n !== 1_048_576)],
      ['limits', 'maxPayloadBytes', fc.integer({ min: 1, max: 2 ** 31 }).filter((n) => n !== 65_536)],
    ] as const;
    fc.assert(
      fc.property(
        fc.constantFrom(...sections).chain(([section, key, value]) => value.map((v) => [section, key, v] as const)),
        fc.constantFrom('!!omap', '!!set', '!!pairs'),
        ([section, key, value], tag) => {
          const body = tag === '!!set' ? `{ ${key} }` : `[ { ${key}: ${value} } ]`;
          const file = write('.yaml', `port: 9001\n${section}: ${tag} ${body}\n`);
          const outcome = outcomeOf(file);
          if (outcome.ok) {
            const c = resolveConfig({ file }) as unknown as Record<string, Record<string, unknown>>;
            expect(c[section]?.[key], `${section}: ${tag} ${body} was accepted and ${section}.${key} is ${String(c[section]?.[key])}`).toBe(
              tag === '!!set' ? undefined : value,
            );
            expect(tag, `${section}: ${tag} ${body} was accepted`).not.toBe('!!set');
          } else {
            expectConfigError(outcome, file);
            expect(outcome.message.startsWith(`${file}: ${section}`), outcome.message).toBe(true);
          }
        },
      ),
      { numRuns: 60 },
    );
  });
});

// ---- (c) the real CLI -------------------------------------------------------

const badFlags: fc.Arbitrary<string[]> = fc.oneof(
  fc.constantFrom<string[]>(
    ['--port', 'x'],
    ['--port', '70000'],
    ['--port', '-1'],
    ['--port', '1.5'],
    ['--port', ''],
    ['--shards', '0'],
    ['--shards', '257'],
    ['--shards', 'many'],
    ['--shards', '-2'],
    ['--host', ''],
    ['--bogus'],
    ['--port'],
    ['-x'],
    ['--config'],
    ['unexpected-positional'],
    ['--app', '/no/such/app.mjs'],
  ),
  fc.string({ minLength: 1, maxLength: 8 }).map((s) => [`--${s.replace(/[\s=]/g, '') || 'z'}x`]),
);

const badFile: fc.Arbitrary<{ ext: '.json' | '.yaml'; text: string }> = fc.oneof(
  mutation.map((m) => ({ ext: '.json' as const, text: JSON.stringify(m.config) })),
  fc.constantFrom(
    { ext: '.json' as const, text: '{' },
    { ext: '.yaml' as const, text: 'port: [1,\n' },
    { ext: '.json' as const, text: '[1, 2]' },
    { ext: '.yaml' as const, text: '- a\n- b\n' },
    { ext: '.json' as const, text: '"just a string"' },
  ),
);

describe('shardline check with random bad flags and files', () => {
  it('exits 2 with one line on stderr and no stack trace', { timeout: 90_000 }, async () => {
    const goodFile = write('.json', JSON.stringify({ port: 0 }));
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          badFlags.map((flags) => ({ file: goodFile, flags })),
          badFile.map(({ ext, text }) => ({ file: write(ext, text), flags: [] as string[] })),
          fc.tuple(badFile, badFlags).map(([{ ext, text }, flags]) => ({ file: write(ext, text), flags })),
        ),
        async ({ file, flags }) => {
          const p = await runCli(['check', '--config', file, ...flags], { waitReady: false });
          const { code } = await p.exited;
          const stderr = p.stderr();
          const what = `check --config ${file} ${flags.join(' ')} → ${code}: ${stderr}`;
          expect(code, what).toBe(2);
          expect(stderr, what).toMatch(/^shardline: /);
          expect(stderr, what).not.toMatch(/\n\s+at /);
          expect(stderr.trim().split('\n'), what).toHaveLength(1);
        },
      ),
      { numRuns: 15 },
    );
  });
});
