/**
 * deploy/: the Kubernetes manifests, the systemd unit and the Dockerfile hold
 * together, and their time budgets follow from the drain settings they run
 * with (their own SHARDLINE_* values, else src/config.ts DEFAULTS).
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { DEFAULTS, ENV_KEYS, closeHandshakeSec } from '../src/config.js';
import { CLI, ROOT, configFile } from './helpers/server.js';

const DEPLOY = join(ROOT, 'deploy');
/** What the grace period and TimeoutStopSec add to delayMs + timeoutMs: forced close, stop() hooks, thread exit. */
const MARGIN_SEC = 5;
/** Variables for keys another branch adds before it is merged (none left). */
const PENDING = new Set<string>();

/** Parsed YAML, checked field by field. */
// biome-ignore lint/suspicious/noExplicitAny: parsed YAML of several manifest shapes, each field checked by the test
type Obj = Record<string, any>;

const manifest = (name: string): Obj => parse(readFileSync(join(DEPLOY, 'kubernetes', name), 'utf8')) as Obj;

/** The drain budget in seconds for a set of SHARDLINE_* values (defaults for the rest). */
function drainSec(env: Record<string, string>): { delay: number; timeout: number; total: number } {
  const delayMs = Number(env.SHARDLINE_DRAIN_DELAY_MS ?? DEFAULTS.drain.delayMs);
  const timeoutMs = Number(env.SHARDLINE_DRAIN_TIMEOUT_MS ?? DEFAULTS.drain.timeoutMs);
  return { delay: delayMs / 1000, timeout: timeoutMs / 1000, total: Math.ceil((delayMs + timeoutMs) / 1000) };
}

/** systemd unit: key -> values (a key may repeat). */
function unit(text: string): Map<string, string[]> {
  const keys = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
    if (m) keys.set(m[1]!, [...(keys.get(m[1]!) ?? []), m[2]!]);
  }
  return keys;
}

describe('deploy files', () => {
  const deployment = manifest('deployment.yaml');
  const pod = deployment.spec.template.spec as Obj;
  const container = pod.containers[0] as Obj;
  const env = Object.fromEntries((container.env as { name: string; value: string }[]).map((e) => [e.name, e.value]));

  it('Kubernetes: the grace period covers drain.delayMs + drain.timeoutMs + margin, and its comment says so', () => {
    const drain = drainSec(env);
    expect(drain.delay).toBeGreaterThan(0); // endpoints are removed before the listeners close
    expect(pod.terminationGracePeriodSeconds).toBe(drain.total + MARGIN_SEC);
    const text = readFileSync(join(DEPLOY, 'kubernetes/deployment.yaml'), 'utf8');
    expect(text).toContain(`+ ${drain.timeout} s (drain.timeoutMs`);
    expect(text).toContain(`= ${pod.terminationGracePeriodSeconds} s.`);
    // uWS's close handshake, which can hold a thread's exit, fits inside the drain timeout.
    expect(closeHandshakeSec(Number(env.SHARDLINE_IDLE_TIMEOUT_SEC ?? DEFAULTS.idleTimeoutSec))).toBeLessThanOrEqual(drain.timeout);
    expect(container.lifecycle?.preStop).toBeUndefined(); // it would eat into the same grace period
  });

  it('Kubernetes: probes, ports, explicit shards, no service links, and every variable is a real config key', async () => {
    expect(pod.enableServiceLinks).toBe(false);
    const ports = Object.fromEntries((container.ports as { name: string; containerPort: number }[]).map((p) => [p.name, p.containerPort]));
    expect(ports.ws).toBe(Number(env.SHARDLINE_PORT ?? DEFAULTS.port));
    expect(ports.metrics).toBe(9464);
    expect(Number(env.SHARDLINE_METRICS_PORT)).toBe(ports.metrics);
    expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'ws' });
    expect(container.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'ws' });
    // Liveness must not fail the pod during a drain (the listeners close after delayMs).
    expect(container.livenessProbe.periodSeconds * container.livenessProbe.failureThreshold).toBeGreaterThan(drainSec(env).total);
    expect(container.readinessProbe.periodSeconds * container.readinessProbe.failureThreshold).toBeLessThanOrEqual(drainSec(env).delay);
    expect(Number(env.SHARDLINE_SHARDS)).toBe(Number(container.resources.limits.cpu));
    expect(deployment.spec.strategy.rollingUpdate).toEqual({ maxSurge: 1, maxUnavailable: 0 });

    const known = new Set(ENV_KEYS.map((k) => k.name));
    for (const name of Object.keys(env)) expect(known.has(name) || PENDING.has(name), name).toBe(true);
    // The real CLI accepts this environment (what the pod would start with).
    const usable = Object.fromEntries(Object.entries(env).filter(([k]) => known.has(k)));
    const { stdout } = await promisify(execFile)(process.execPath, [CLI, 'check', '--config', configFile({})], {
      env: { PATH: process.env.PATH ?? '', ...usable },
    });
    expect(JSON.parse(stdout)).toMatchObject({ shards: Number(env.SHARDLINE_SHARDS), drain: { delayMs: Number(env.SHARDLINE_DRAIN_DELAY_MS) } });
  });

  it('Kubernetes: Service, PodDisruptionBudget and HorizontalPodAutoscaler point at the Deployment', () => {
    const labels = deployment.spec.template.metadata.labels as Obj;
    const service = manifest('service.yaml');
    expect(labels).toMatchObject(service.spec.selector);
    const containerPorts = (container.ports as { name: string }[]).map((p) => p.name);
    for (const p of service.spec.ports as { targetPort: string }[]) expect(containerPorts).toContain(p.targetPort);

    const pdb = manifest('pdb.yaml');
    expect(labels).toMatchObject(pdb.spec.selector.matchLabels);
    expect(pdb.spec.maxUnavailable).toBe(1);

    const hpa = manifest('hpa.yaml');
    expect(hpa.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: deployment.metadata.name });
    expect(hpa.spec.metrics).toEqual([
      { type: 'Pods', pods: { metric: { name: 'shardline_connections' }, target: { type: 'AverageValue', averageValue: expect.any(String) } } },
    ]);
    expect(hpa.spec.minReplicas).toBeGreaterThanOrEqual(2); // a drain always has somewhere to send its clients
    // A scale-down drops sockets: it waits far longer than a scale-up.
    expect(hpa.spec.behavior.scaleDown.stabilizationWindowSeconds).toBeGreaterThan(hpa.spec.behavior.scaleUp.stabilizationWindowSeconds * 10);
  });

  it('systemd: TimeoutStopSec above the drain deadline, no restart loop on exit 2, a synchronous reload', () => {
    const text = readFileSync(join(DEPLOY, 'systemd/shardline.service'), 'utf8');
    const keys = unit(text);
    const one = (k: string): string => keys.get(k)?.[0] ?? '';
    const envs = Object.fromEntries((keys.get('Environment') ?? []).map((e) => e.split('=') as [string, string]));
    const drain = drainSec(envs);
    expect(Number(one('TimeoutStopSec'))).toBe(drain.total + MARGIN_SEC);
    expect(text).toContain(`= ${drain.delay} s + ${drain.timeout} s + ${MARGIN_SEC} s`);
    expect(one('KillSignal')).toBe('SIGTERM');
    expect(one('KillMode')).toBe('mixed');
    expect(one('RestartPreventExitStatus').split(/\s+/)).toContain('2');
    expect(one('Restart')).toBe('on-failure');
    expect(Number(one('LimitNOFILE'))).toBeGreaterThanOrEqual(65_536);
    const pidFile = /--pid-file (\S+)/.exec(one('ExecStart'))?.[1];
    expect(pidFile).toMatch(/^\/run\/shardline\//);
    expect(one('ExecReload')).toMatch(new RegExp(`main\\.js reload --pid-file ${pidFile}$`));
    expect(one('ExecStartPre')).toMatch(/main\.js check --config /);
    expect(one('ExecStart')).toMatch(/^\/usr\/bin\/node \S+main\.js start /); // node itself, not npm
  });

  it('Dockerfile: exec form only, SIGTERM, a non-root user, and an entry point that exists after the build', () => {
    const lines = readFileSync(join(DEPLOY, 'docker/Dockerfile'), 'utf8')
      .split('\n')
      .filter((l) => /^[A-Z]+ /.test(l));
    const of = (cmd: string): string[] => lines.filter((l) => l.startsWith(`${cmd} `)).map((l) => l.slice(cmd.length + 1));
    for (const cmd of ['RUN', 'CMD', 'ENTRYPOINT']) {
      for (const arg of of(cmd)) expect(Array.isArray(JSON.parse(arg)), `${cmd} ${arg}`).toBe(true);
    }
    expect(of('STOPSIGNAL')).toEqual(['SIGTERM']);
    expect(of('USER')).toHaveLength(1);
    expect(of('USER')[0]).not.toMatch(/^(root|0)$/);
    expect(of('EXPOSE')[0]?.split(' ')).toEqual([String(DEFAULTS.port), '9464']);
    const entry = JSON.parse(of('ENTRYPOINT')[0] ?? '[]') as string[];
    expect(entry[0]).toBe('node');
    expect(existsSync(join(ROOT, entry[1] ?? ''))).toBe(true);
  });
});
