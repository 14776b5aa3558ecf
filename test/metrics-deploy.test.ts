/**
 * deploy/prometheus-alerts.yaml and deploy/grafana-dashboard.json: the rules
 * pass promtool (syntax and their unit tests), and every metric the alerts
 * and the dashboard name is one a real server exposes (a renamed metric must
 * not leave a silent panel or an alert that can never fire).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { freePort, scrape } from './helpers/prometheus.js';
import { ROOT, configFile, startServer } from './helpers/server.js';

const ALERTS = join(ROOT, 'deploy/prometheus-alerts.yaml');
const DASHBOARD = join(ROOT, 'deploy/grafana-dashboard.json');

function promtool(args: string[]): { status: number | null; out: string } {
  const r = spawnSync('promtool', args, { cwd: join(ROOT, 'deploy'), encoding: 'utf8' });
  if (r.error) throw new Error(`cannot run promtool (Debian's prometheus package; .ci/run installs it): ${r.error.message}`);
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

/** Metric families named in a text: histogram series map to their family. */
function familiesIn(text: string, prefix: RegExp): Set<string> {
  return new Set([...text.matchAll(prefix)].map((m) => (m[0] as string).replace(/_(bucket|sum|count)$/, '')));
}

describe('metrics deploy files', () => {
  it('the alert rules are valid and their promtool unit tests pass', () => {
    const check = promtool(['check', 'rules', ALERTS]);
    expect(check.status, check.out).toBe(0);
    const test = promtool(['test', 'rules', 'prometheus-alerts.test.yaml']);
    expect(test.status, test.out).toBe(0);
  });

  it('every metric the alerts and the dashboard use is exposed by a running server', async () => {
    const dashboard = readFileSync(DASHBOARD, 'utf8');
    const exprs = (JSON.parse(dashboard) as { panels: { targets?: { expr: string }[] }[] }).panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
    expect(exprs.length).toBeGreaterThan(30);
    const used = familiesIn(`${exprs.join('\n')}\n${readFileSync(ALERTS, 'utf8')}`, /\b(shardline|process)_[a-z_]+/g);
    expect(used.size).toBeGreaterThan(25);

    const metricsPort = await freePort();
    const server = await startServer(['--config', configFile({ metrics: { port: metricsPort, host: '127.0.0.1' } })]);
    const exposed = new Set((await scrape(metricsPort)).types.keys());
    const missing = [...used].filter((name) => !exposed.has(name));
    expect(missing).toEqual([]);
    server.signal('SIGTERM');
    expect((await server.exited).code).toBe(0);
  });
});
