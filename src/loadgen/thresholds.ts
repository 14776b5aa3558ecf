/**
 * `--threshold 'p99<=50ms'` (repeatable): a CI gate on a result. Each mode
 * offers named metrics (see METRICS); a time accepts us, ms (the default) or
 * s; a count or a rate takes a plain number. When any threshold fails the
 * command exits with THRESHOLD_EXIT_CODE (99, as k6), after printing the
 * whole result, so a failed gate is told apart from a failed run (1) and bad
 * arguments (2).
 */

export const THRESHOLD_EXIT_CODE = 99;

export type Unit = 'ms' | 'count';
export type Op = '<' | '<=' | '>' | '>=' | '==' | '!=';

export interface Threshold {
  expr: string;
  metric: string;
  op: Op;
  /** In the metric's unit (ms for times). */
  value: number;
}

export interface ThresholdResult extends Threshold {
  actual: number | null;
  ok: boolean;
}

const LATENCY: Record<string, Unit> = { p50: 'ms', p75: 'ms', p90: 'ms', p95: 'ms', p99: 'ms', 'p99.9': 'ms', 'p99.99': 'ms', max: 'ms', mean: 'ms' };

/** The metrics each mode can be gated on, and their units. */
export const METRICS: Record<'load' | 'pubsub' | 'drain' | 'capacity', Record<string, Unit>> = {
  load: {
    ...LATENCY,
    rps: 'count',
    sent: 'count',
    received: 'count',
    unanswered: 'count',
    lost: 'count',
    late: 'count',
    errors: 'count',
    'connect-failed': 'count',
    'client-cpu': 'count',
  },
  pubsub: { ...LATENCY, delivered: 'count', lost: 'count', duplicates: 'count', gaps: 'count', errors: 'count', 'connect-failed': 'count' },
  drain: { drain: 'ms', 'first-close': 'ms', 'last-close': 'ms', lost: 'count', 'exit-code': 'count', 'still-open': 'count', 'connect-failed': 'count' },
  capacity: { connections: 'count' },
};

const RE = /^\s*([a-z][a-z0-9.-]*)\s*(<=|>=|==|!=|<|>)\s*(\d+(?:\.\d+)?)\s*(us|µs|ms|s)?\s*$/i;
const SCALE: Record<string, number> = { us: 0.001, µs: 0.001, ms: 1, s: 1000 };

/** Parses one expression for `mode`; throws an Error naming the problem. */
export function parseThreshold(expr: string, mode: keyof typeof METRICS): Threshold {
  const m = RE.exec(expr);
  if (m === null) throw new Error(`--threshold '${expr}': expected METRIC OP VALUE, e.g. 'p99<=50ms' or 'lost==0'`);
  const metric = (m[1] ?? '').toLowerCase();
  const unit = METRICS[mode][metric];
  if (unit === undefined) throw new Error(`--threshold '${expr}': no metric '${metric}' in bench ${mode} (${Object.keys(METRICS[mode]).join(', ')})`);
  const suffix = m[4];
  if (suffix !== undefined && unit !== 'ms') throw new Error(`--threshold '${expr}': '${metric}' is a count, not a time`);
  return { expr, metric, op: m[2] as Op, value: Number(m[3]) * (suffix === undefined ? 1 : (SCALE[suffix] ?? 1)) };
}

function holds(actual: number, op: Op, value: number): boolean {
  switch (op) {
    case '<':
      return actual < value;
    case '<=':
      return actual <= value;
    case '>':
      return actual > value;
    case '>=':
      return actual >= value;
    case '==':
      return actual === value;
    case '!=':
      return actual !== value;
  }
}

/** A metric the result does not have (null) fails its threshold: a gate must not pass on missing data. */
export function evaluate(thresholds: Threshold[], metrics: Record<string, number | null>): ThresholdResult[] {
  return thresholds.map((t) => {
    const actual = metrics[t.metric] ?? null;
    return { ...t, actual, ok: actual !== null && Number.isFinite(actual) && holds(actual, t.op, t.value) };
  });
}
