/**
 * A metric whose values are computed at scrape time (read from shared memory
 * or from the primary's own state), registered with prom-client's Registry.
 *
 * prom-client's own Counter and Histogram keep their values in the primary's
 * heap and cannot be set from outside (a Counter has no set(), a Histogram
 * no way to load bucket counts). The Registry renders any object that has a
 * `name` and a `get()` returning { name, help, type, values } (the shape of
 * `registry.getMetricsAsJSON()`, prom-client 15), so this class provides
 * exactly that and nothing else.
 */
export interface MetricValue {
  value: number;
  labels: Record<string, string | number>;
  /** For a histogram's series: `<name>_bucket`, `_sum`, `_count`. */
  metricName?: string;
}

export interface SharedMetricOptions {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram';
  read: () => MetricValue[];
}

export class SharedMetric {
  readonly name: string;
  readonly help: string;
  readonly type: SharedMetricOptions['type'];
  readonly aggregator = 'sum' as const;
  private readonly read: () => MetricValue[];

  constructor(opts: SharedMetricOptions) {
    this.name = opts.name;
    this.help = opts.help;
    this.type = opts.type;
    this.read = opts.read;
  }

  get(): { name: string; help: string; type: SharedMetricOptions['type']; aggregator: 'sum'; values: MetricValue[] } {
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values: this.read() };
  }

  /** Registry.resetMetrics() calls this; the values live elsewhere, so there is nothing to reset. */
  reset(): void {}
}

/**
 * The series of one histogram from per-bucket counts (not cumulative; the
 * last cell is above the last bound) and the sum of the samples.
 */
export function histogramValues(
  name: string,
  bounds: readonly number[],
  cells: readonly number[],
  sum: number,
  labels: Record<string, string> = {},
): MetricValue[] {
  const out: MetricValue[] = [];
  let acc = 0;
  for (let b = 0; b < bounds.length; b++) {
    acc += cells[b] ?? 0;
    out.push({ metricName: `${name}_bucket`, labels: { ...labels, le: bounds[b] as number }, value: acc });
  }
  acc += cells[bounds.length] ?? 0;
  out.push({ metricName: `${name}_bucket`, labels: { ...labels, le: '+Inf' }, value: acc });
  out.push({ metricName: `${name}_sum`, labels, value: sum });
  out.push({ metricName: `${name}_count`, labels, value: acc });
  return out;
}
