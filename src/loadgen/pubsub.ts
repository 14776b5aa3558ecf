/**
 * `shardline bench pubsub`: S subscribers and P publishers on T topics,
 * R publications per second in all, on a fixed schedule (pubsub-group.ts).
 * Reports publish→receive latency over every delivery, and what was lost or
 * duplicated, per subscriber.
 *
 * Speaks shardline's protocol v1 by default: `{"id":1,"subscribe":"t"}`,
 * acknowledged by `{"id":1,"ok":true}` once the subscription is in place (a
 * command without an id is acted on and echoed at once, before the broker has
 * it), and `{"publish":"t","data":MARKER}`, delivered as
 * `{"topic":"t","data":MARKER}`. Other servers: `--subscribe-template` and
 * `--publish-template` (`{topic}`, `{data}`); the first frame after the
 * subscribe command (a v1 greeting aside) is taken as its acknowledgement, and
 * deliveries are recognised by the marker anywhere in a frame, whatever the
 * envelope.
 *
 * Subscriber i listens to topic i mod T; publishers cycle through the topics,
 * so every subscriber expects every publication of its topic.
 */
import os from 'node:os';
import { Groups, type OpenSummary } from './groups.js';
import { merge, summarize, type LatencySummary } from './latency.js';
import { makePlan, type Plan } from './plan.js';
import { mergeCounts, type PubsubSpec } from './protocol.js';
import { saturationWarning, summarizeClient, type ClientSummary } from './self-meter.js';

export const DEFAULT_SUBSCRIBE_TEMPLATE = '{"id":1,"subscribe":"{topic}"}';
export const DEFAULT_PUBLISH_TEMPLATE = '{"publish":"{topic}","data":{data}}';

export interface PubsubOptions {
  url: string;
  subscribers: number;
  publishers: number;
  /** Publications per second over all publishers. */
  rate: number;
  topics: string[];
  durationMs: number;
  /** After the last publication, how long deliveries are awaited. */
  tailMs: number;
  connectRate: number;
  threads: number;
  processes: number;
  localAddresses: string[];
  subscribeTemplate: string;
  publishTemplate: string;
}

export interface PubsubResult {
  url: string;
  partial: boolean;
  plan: Plan;
  subscribers: number;
  publishers: number;
  topics: string[];
  rate: number;
  durationMs: number;
  connections: Omit<OpenSummary, 'errors'>;
  unacknowledged: number;
  published: number;
  publishFailed: number;
  /** Deliveries the subscribers should have had: for each, the publications on its topic. */
  expected: number;
  delivered: number;
  lost: number;
  duplicates: number;
  gaps: number;
  maxGap: number;
  subscribersWithLoss: number;
  worstSubscriberLost: number;
  otherFrames: number;
  latency: LatencySummary;
  perSubscriber: { id: number; topic: string; received: number; lost: number; duplicates: number; gaps: number; maxGap: number }[];
  client: ClientSummary;
  warnings: string[];
  closeCodes: Record<string, number>;
  errors: Record<string, number>;
}

export async function runPubsub(opts: PubsubOptions, hooks: { signal?: AbortSignal; onPlan?: (plan: Plan) => void } = {}): Promise<PubsubResult> {
  const total = opts.subscribers + opts.publishers;
  const plan = makePlan({ url: opts.url, connections: total, threads: opts.threads, processes: opts.processes, localAddresses: opts.localAddresses });
  hooks.onPlan?.(plan);
  const groups = new Groups({ kind: 'pubsub', url: opts.url, plan, ratePerSec: opts.connectRate, inflight: 0, size: 0 });
  const onAbort = (): void => groups.broadcast({ type: 'stop' });
  hooks.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const { errors: openErrors, ...connections } = await groups.opened();
    const k = plan.groups.length;
    let firstSubscriber = 0;
    let firstPublisher = 0;
    plan.groups.forEach((g, i) => {
      const subs = Math.floor(opts.subscribers / k) + (i < opts.subscribers % k ? 1 : 0);
      const spec: PubsubSpec = {
        subscribers: subs,
        publishers: g.connections - subs,
        firstSubscriber,
        firstPublisher,
        topics: opts.topics,
        ratePerPublisher: opts.publishers > 0 ? opts.rate / opts.publishers : 0,
        durationMs: opts.durationMs,
        subscribeTemplate: opts.subscribeTemplate,
        publishTemplate: opts.publishTemplate,
        tailMs: opts.tailMs,
      };
      firstSubscriber += subs;
      firstPublisher += g.connections - subs;
      groups.handles[i]?.send({ type: 'pubsub-subscribe', spec });
    });
    await groups.collect('pubsub-subscribed', 30_000);
    const cpu0 = process.cpuUsage();
    const wall0 = performance.now();
    groups.broadcast({ type: 'pubsub-run' });
    const reports = (await groups.collect('pubsub-result', opts.durationMs + opts.tailMs + 20_000)).map((m) => m.report);
    const cpu = process.cpuUsage(cpu0);
    const wallMs = performance.now() - wall0;

    // A group's final report counts its errors from the start, the open phase's included.
    const errors: Record<string, number> = reports.length > 0 ? {} : openErrors;
    const published: Record<string, number> = {};
    const closeCodes: Record<string, number> = {};
    let publishFailed = 0;
    let unacknowledged = 0;
    let otherFrames = 0;
    for (const r of reports) {
      mergeCounts(published, r.published);
      mergeCounts(closeCodes, r.closeCodes);
      mergeCounts(errors, r.errors);
      publishFailed += r.publishFailed;
      unacknowledged += r.unacknowledged;
      otherFrames += r.otherFrames;
    }
    const perSubscriber = reports
      .flatMap((r) => r.subscribers)
      .map((s) => ({ ...s, lost: Math.max(0, (published[s.topic] ?? 0) - s.received) }))
      .sort((a, b) => a.id - b.id);
    const sum = (f: (s: (typeof perSubscriber)[number]) => number): number => perSubscriber.reduce((n, s) => n + f(s), 0);
    const expected = sum((s) => published[s.topic] ?? 0);
    const delivered = sum((s) => s.received);
    const client = summarizeClient(
      reports.map((r) => r.client),
      (cpu.user + cpu.system) / 1000,
      Math.max(1, wallMs),
      os.availableParallelism(),
    );
    const warnings: string[] = [];
    const sat = saturationWarning(client);
    if (sat !== null) warnings.push(sat);
    if (unacknowledged > 0)
      warnings.push(`${unacknowledged} subscriptions got no frame back within 5 s (the server does not acknowledge them, or they failed)`);
    const latency = summarize(merge(reports.map((r) => r.histogram)));
    if (sum((s) => s.lost) > 0 && latency.maxMs > opts.tailMs) {
      warnings.push(
        `deliveries took up to ${latency.maxMs} ms, longer than the ${opts.tailMs} ms tail: 'lost' includes deliveries still in flight at the end (raise --tail, or lower --rate)`,
      );
    }
    if (connections.failed > 0) warnings.push(`${connections.failed} of ${connections.requested} connections failed to open`);
    return {
      url: opts.url,
      partial: hooks.signal?.aborted === true || reports.some((r) => r.interrupted),
      plan,
      subscribers: opts.subscribers,
      publishers: opts.publishers,
      topics: opts.topics,
      rate: opts.rate,
      durationMs: opts.durationMs,
      connections,
      unacknowledged,
      published: Object.values(published).reduce((a, b) => a + b, 0),
      publishFailed,
      expected,
      delivered,
      lost: sum((s) => s.lost),
      duplicates: sum((s) => s.duplicates),
      gaps: sum((s) => s.gaps),
      maxGap: Math.max(0, ...perSubscriber.map((s) => s.maxGap)),
      subscribersWithLoss: perSubscriber.filter((s) => s.lost > 0).length,
      worstSubscriberLost: Math.max(0, ...perSubscriber.map((s) => s.lost)),
      otherFrames,
      latency,
      perSubscriber,
      client,
      warnings,
      closeCodes,
      errors,
    };
  } finally {
    hooks.signal?.removeEventListener('abort', onAbort);
    await groups.stop();
  }
}
