/**
 * The coordinator's side of the client groups: spawns them as the plan says
 * (plan.ts: worker threads of this process, or forked child processes each
 * with its own source addresses), spreads the connect rate over them, and
 * gathers their answers.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import type { Plan } from './plan.js';
import { assertNever, mergeCounts, type FromGroup, type GroupSpec, type ToGroup } from './protocol.js';

/** The connect phase over every group. */
export interface OpenSummary {
  requested: number;
  opened: number;
  failed: number;
  /** Successful opens per second, first attempt to last open. */
  perSec: number;
  openMs: number;
  errors: Record<string, number>;
}

const ENTRY = new URL('./group-entry.js', import.meta.url);

export interface GroupOptions {
  kind?: GroupSpec['kind'];
  url: string;
  plan: Plan;
  /** Connection attempts per second over all groups. */
  ratePerSec: number;
  inflight: number;
  size: number;
  connectTimeoutMs?: number;
}

interface Handle {
  id: number;
  send(msg: ToGroup): void;
  stop(): Promise<void>;
}

export class Groups {
  readonly handles: Handle[] = [];
  private readonly listeners = new Set<(msg: FromGroup) => void>();
  private readonly failures: string[] = [];

  private readonly requested: number;
  private readonly ratePerSec: number;

  constructor(opts: GroupOptions) {
    const { plan } = opts;
    this.requested = plan.groups.reduce((n, g) => n + g.connections, 0);
    this.ratePerSec = opts.ratePerSec;
    const count = plan.groups.length;
    plan.groups.forEach((g, i) => {
      const spec: GroupSpec = {
        group: i,
        kind: opts.kind ?? 'echo',
        url: opts.url,
        connections: g.connections,
        ratePerSec: Math.max(1, opts.ratePerSec / count),
        maxPending: Math.max(16, Math.floor(512 / count)),
        inflight: opts.inflight,
        size: opts.size,
        localAddresses: g.localAddresses,
        connectTimeoutMs: opts.connectTimeoutMs ?? 10_000,
      };
      const handle = plan.kind === 'processes' ? this.forkGroup(i) : this.threadGroup(i);
      this.handles.push(handle);
      handle.send({ type: 'open', spec });
    });
  }

  /** Listens to every message from the groups (ticks, say) until the returned function is called. */
  on(listener: (msg: FromGroup) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private dispatch(msg: FromGroup): void {
    if (msg.type === 'failed') this.failures.push(`group ${msg.group}: ${msg.message}`);
    for (const l of [...this.listeners]) l(msg);
  }

  private threadGroup(id: number): Handle {
    const worker = new Worker(ENTRY, { name: `bench-group-${id}` });
    worker.on('message', (m: FromGroup) => this.dispatch(m));
    worker.on('error', (err) => this.dispatch({ type: 'failed', group: id, message: err.message }));
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    return {
      id,
      send: (msg) => worker.postMessage(msg),
      stop: async () => {
        worker.postMessage({ type: 'exit' } satisfies ToGroup);
        const timer = setTimeout(() => void worker.terminate(), 3_000);
        await exited;
        clearTimeout(timer);
      },
    };
  }

  private forkGroup(id: number): Handle {
    const child: ChildProcess = fork(ENTRY, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    child.on('message', (m) => this.dispatch(m as FromGroup));
    child.on('error', (err) => this.dispatch({ type: 'failed', group: id, message: err.message }));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    return {
      id,
      send: (msg) => {
        if (child.connected) child.send(msg);
      },
      stop: async () => {
        if (child.connected) child.send({ type: 'exit' } satisfies ToGroup);
        const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
        await exited;
        clearTimeout(timer);
      },
    };
  }

  broadcast(msg: ToGroup): void {
    for (const h of this.handles) h.send(msg);
  }

  /** Waits until every group has opened its connections (budget: 30 s plus twice the time the rate needs). */
  async opened(): Promise<OpenSummary> {
    const budgetMs = 30_000 + (this.requested / Math.max(1, this.ratePerSec)) * 2_000;
    const reports = (await this.collect('opened', budgetMs)).map((m) => m.report);
    const opened = reports.reduce((n, r) => n + r.opened, 0);
    const openMs = reports.length === 0 ? 0 : Math.max(...reports.map((r) => r.lastOpenAt)) - Math.min(...reports.map((r) => r.startedAt));
    const errors: Record<string, number> = {};
    for (const r of reports) mergeCounts(errors, r.errors);
    return {
      requested: this.requested,
      opened,
      failed: this.requested - opened,
      perSec: openMs > 0 ? Math.round((opened * 1000) / openMs) : 0,
      openMs: Math.round(openMs),
      errors,
    };
  }

  /** Resolves with one message of type `type` from every group (in group order), or rejects after timeoutMs. */
  collect<T extends FromGroup['type']>(type: T, timeoutMs: number): Promise<Extract<FromGroup, { type: T }>[]> {
    return new Promise((resolve, reject) => {
      const got = new Map<number, Extract<FromGroup, { type: T }>>();
      const done = (err?: Error): void => {
        clearTimeout(timer);
        this.listeners.delete(listener);
        if (err) reject(err);
        else resolve([...got.values()].sort((a, b) => a.group - b.group));
      };
      const listener = (msg: FromGroup): void => {
        switch (msg.type) {
          case 'failed':
            return done(new Error(`bench client ${msg.message}`));
          case 'opened':
          case 'armed':
          case 'tick':
          case 'pubsub-subscribed':
          case 'pubsub-result':
          case 'first-close':
          case 'load-result':
          case 'drain-result':
            if (msg.type === type && !got.has(msg.group)) got.set(msg.group, msg as Extract<FromGroup, { type: T }>);
            if (got.size === this.handles.length) done();
            return;
          default:
            assertNever(msg, 'bench coordinator');
        }
      };
      const timer = setTimeout(
        () => done(new Error(`bench: no '${type}' from every client group within ${timeoutMs} ms (${got.size}/${this.handles.length})`)),
        timeoutMs,
      );
      if (this.failures.length > 0) return done(new Error(this.failures.join('; ')));
      this.listeners.add(listener);
    });
  }

  /** Resolves with the first message of `type` from any group, or null after timeoutMs. */
  first<T extends FromGroup['type']>(type: T, timeoutMs: number): Promise<Extract<FromGroup, { type: T }> | null> {
    return new Promise((resolve) => {
      const listener = (msg: FromGroup): void => {
        if (msg.type !== type) return;
        this.listeners.delete(listener);
        clearTimeout(timer);
        resolve(msg as Extract<FromGroup, { type: T }>);
      };
      const timer = setTimeout(() => (this.listeners.delete(listener), resolve(null)), timeoutMs);
      this.listeners.add(listener);
    });
  }

  async stop(): Promise<void> {
    await Promise.all(this.handles.map((h) => h.stop()));
  }
}
