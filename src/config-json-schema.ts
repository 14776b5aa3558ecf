/**
 * The config's JSON Schema (draft-07: yaml-language-server supports "JSON
 * Schema 7 and below"), for editors: `# yaml-language-server: $schema=...`
 * in a YAML file, or a top-level "$schema" key in a JSON file.
 *
 * zod's toJSONSchema drops every .refine() silently (a refined key comes out
 * as any integer), so the rules written as refinements are restored here from
 * RESTORED, by key. test/config-json-schema.test.ts fails when a refined key
 * has no entry, and checks that zod and the JSON Schema agree on sample values.
 */
import { z } from 'zod';
import { configSchema } from './config.js';
import { MAX_CLOSE_REASON_BYTES } from './errors.js';

type JsonSchema = Record<string, unknown>;

const range = (minimum: number, maximum: number): JsonSchema => ({ type: 'integer', minimum, maximum });
const zeroOr = (minimum: number, maximum: number): JsonSchema => ({ anyOf: [{ const: 0 }, range(minimum, maximum)] });

/** Dotted key -> what its .refine() checks, as JSON Schema (merged over zod's output for that key). */
export const RESTORED: Readonly<Record<string, JsonSchema>> = {
  'drain.closeCode': { anyOf: [range(1000, 1003), range(1007, 1014), range(3000, 4999)] },
  // Bytes, not characters: maxLength is the closest a schema gets (a character is at least a byte).
  'drain.closeReason': { maxLength: MAX_CLOSE_REASON_BYTES, description: `at most ${MAX_CLOSE_REASON_BYTES} bytes in UTF-8` },
  'backpressure.maxUnackedBytes': zeroOr(16 * 1024, 2 ** 31),
  'limits.shardHeapMb': zeroOr(32, 65_536),
  idleTimeoutSec: zeroOr(8, 960),
};

function at(schema: JsonSchema, path: readonly string[]): JsonSchema | undefined {
  let node: JsonSchema | undefined = schema;
  for (const p of path) {
    const props = node?.properties as Record<string, JsonSchema> | undefined;
    node = props?.[p];
  }
  return node;
}

/** The JSON Schema of a config file, draft-07, the file author's view (nothing required, defaults shown). */
export function configJsonSchema(): JsonSchema {
  const schema = z.toJSONSchema(configSchema, { target: 'draft-07', io: 'input', unrepresentable: 'any' }) as JsonSchema;
  for (const [key, rule] of Object.entries(RESTORED)) {
    const node = at(schema, key.split('.'));
    if (node === undefined) throw new Error(`config-json-schema: no key ${key} in the schema`);
    if ('anyOf' in rule) {
      // The rule replaces the loose integer type; the default stays beside it.
      delete node.type;
      delete node.minimum;
      delete node.maximum;
    }
    Object.assign(node, rule);
  }
  // JSON editors look for "$schema" in the file itself; validateConfig ignores it.
  (schema.properties as Record<string, JsonSchema>).$schema = { type: 'string', description: 'the URL or path of this schema, for editors' };
  schema.title = 'shardline configuration';
  return schema;
}
