/** A protocol v1 test client (docs/PROTOCOL.md) on a real `ws` socket: requests by id, publications by topic. */
import { once } from 'node:events';
import WebSocket from 'ws';
import { onTestFinished } from 'vitest';

export interface Pub {
  topic: string;
  data: unknown;
  offset?: number;
  epoch?: string;
}

export interface V1Client {
  ws: WebSocket;
  hello: Record<string, unknown> | null;
  /** Publications received, per topic, in arrival order. */
  pubs: Map<string, Pub[]>;
  /** Every frame, in arrival order (parsed JSON). */
  frames: Record<string, unknown>[];
  request(cmd: Record<string, unknown>, timeoutMs?: number): Promise<Record<string, unknown>>;
  waitForPubs(topic: string, n: number, timeoutMs?: number): Promise<Pub[]>;
  closed: Promise<{ code: number; reason: string }>;
}

export async function connectV1(port: number, opts: { subprotocol?: boolean } = {}): Promise<V1Client> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`, opts.subprotocol === false ? [] : ['shardline.v1']);
  let nextId = 1;
  const replies = new Map<number, (r: Record<string, unknown>) => void>();
  const pubs = new Map<string, Pub[]>();
  const frames: Record<string, unknown>[] = [];
  const pubWaiters: { topic: string; n: number; resolve: () => void }[] = [];
  let helloResolve: (() => void) | null = null;
  const client: V1Client = {
    ws,
    hello: null,
    pubs,
    frames,
    closed: once(ws, 'close').then(([code, reason]) => ({ code: code as number, reason: String(reason) })),
    request(cmd, timeoutMs = 10_000) {
      const id = nextId++;
      ws.send(JSON.stringify({ id, ...cmd }));
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no reply to ${JSON.stringify(cmd)}`)), timeoutMs);
        replies.set(id, (r) => (clearTimeout(t), resolve(r)));
      });
    },
    waitForPubs(topic, n, timeoutMs = 15_000) {
      const have = (): Pub[] => pubs.get(topic) ?? [];
      if (have().length >= n) return Promise.resolve(have());
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`got ${have().length} of ${n} publications on ${topic}`)), timeoutMs);
        pubWaiters.push({ topic, n, resolve: () => (clearTimeout(t), resolve(have())) });
      });
    },
  };
  ws.on('message', (data, isBinary) => {
    if (isBinary) return;
    const f = JSON.parse(data.toString()) as Record<string, unknown>;
    frames.push(f);
    if (f.hello !== undefined) {
      client.hello = f.hello as Record<string, unknown>;
      helloResolve?.();
    } else if (typeof f.id === 'number' && replies.has(f.id)) {
      const r = replies.get(f.id);
      replies.delete(f.id);
      r?.(f);
    } else if (typeof f.topic === 'string') {
      const list = pubs.get(f.topic) ?? [];
      pubs.set(f.topic, list);
      list.push(f as unknown as Pub);
      for (const w of [...pubWaiters]) {
        if (w.topic === f.topic && list.length >= w.n) pubWaiters.splice(pubWaiters.indexOf(w), 1), w.resolve();
      }
    }
  });
  ws.on('error', () => {});
  onTestFinished(() => ws.terminate());
  const hello = opts.subprotocol === false ? Promise.resolve() : new Promise<void>((r) => (helloResolve = r));
  await once(ws, 'open');
  await hello;
  return client;
}

/** Offsets of a list of publications. */
export const offsets = (list: Pub[]): number[] => list.map((p) => p.offset ?? -1);

/** 1..n */
export const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);
