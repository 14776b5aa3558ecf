/**
 * Which topics keep history: config `history` is a list of rules, first match
 * wins, and a topic that matches none keeps no history (the default).
 *
 * Globs: `*` matches any run of characters except `.`, `**` any run at all,
 * `?` one character; everything else matches itself.
 */
import type { HistoryRule } from '../config-fleet.js';
import type { HistoryPolicy } from './broker.js';

function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string;
    if (c === '*') {
      if (glob[i + 1] === '*') {
        re += '.*';
        i++;
      } else re += '[^.]*';
    } else if (c === '?') re += '.';
    else re += c.replace(/[\\^$.|+()[\]{}]/g, '\\$&');
  }
  return new RegExp(`^${re}$`, 's');
}

export class HistoryRules {
  private readonly rules: { re: RegExp; policy: HistoryPolicy }[];
  /** Topic -> policy (or null): a topic is matched once. Bounded: cleared when it grows past CACHE_MAX. */
  private readonly cache = new Map<string, HistoryPolicy | null>();
  private static readonly CACHE_MAX = 10_000;

  constructor(rules: readonly Readonly<HistoryRule>[]) {
    this.rules = rules.map((r) => ({ re: globToRegExp(r.match), policy: { size: r.size, ttlSec: r.ttlSec } }));
  }

  get empty(): boolean {
    return this.rules.length === 0;
  }

  policyFor(topic: string): HistoryPolicy | null {
    if (this.rules.length === 0) return null;
    const hit = this.cache.get(topic);
    if (hit !== undefined) return hit;
    const policy = this.rules.find((r) => r.re.test(topic))?.policy ?? null;
    if (this.cache.size >= HistoryRules.CACHE_MAX) this.cache.clear();
    this.cache.set(topic, policy);
    return policy;
  }
}
