/**
 * `shardline config defaults|schema|env` and `shardline check --sources`:
 * what an operator needs to write a config without reading the source.
 */
import { stringify } from 'yaml';
import { ENV_KEYS, configSchema, type ResolvedConfig } from '../config.js';
import { configJsonSchema } from '../config-json-schema.js';
import type { ConfigWhat } from './args.js';

function valueAt(data: unknown, path: readonly string[]): unknown {
  let node = data;
  for (const p of path) node = node !== null && typeof node === 'object' ? (node as Record<string, unknown>)[p] : undefined;
  return node;
}

const show = (v: unknown): string => (v === undefined ? '(unset)' : typeof v === 'string' ? v : JSON.stringify(v));

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ')).join('\n') + '\n';
}

export function printConfig(what: ConfigWhat): string {
  switch (what) {
    case 'defaults':
      return `# shardline defaults (shardline config defaults); every key is optional\n${stringify(configSchema.parse({}))}`;
    case 'schema':
      return `${JSON.stringify(configJsonSchema(), null, 2)}\n`;
    case 'env': {
      const defaults = configSchema.parse({});
      const rows = ENV_KEYS.map((k) => [
        k.name,
        k.path.join('.'),
        k.kinds.join('|') + (k.words.length ? ` (${k.words.join(', ')})` : ''),
        show(valueAt(defaults, k.path)),
      ]);
      return table([['VARIABLE', 'KEY', 'VALUE', 'DEFAULT'], ...rows]);
    }
  }
}

/** Secrets in a resolved config: `check` prints them masked, never as they are. */
const SECRET_KEYS = new Set(['api.keys']);

/** The config with its secrets masked (a count, not the values), for printing. */
export function redacted(config: ResolvedConfig): unknown {
  return { ...config, api: { ...config.api, keys: config.api.keys.map(() => '<redacted>') } };
}

/** One line per key: key, resolved value, source (default, file, environment variable or flag). */
export function formatSources(config: ResolvedConfig, sources: Record<string, string>): string {
  const rows = Object.entries(sources).map(([key, source]) => [
    key,
    SECRET_KEYS.has(key) ? `<${config.api.keys.length} redacted>` : show(valueAt(config, key.split('.'))),
    source,
  ]);
  return table([['KEY', 'VALUE', 'SOURCE'], ...rows]);
}
