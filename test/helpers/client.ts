/** Real `ws` clients against a real server. */
import { once } from 'node:events';
import WebSocket from 'ws';
import { onTestFinished } from 'vitest';

export interface Client {
  ws: WebSocket;
  /** Every message received, in order (text as string, binary as Buffer). */
  messages: (string | Buffer)[];
  /** Resolves on close with the code and reason and when it happened. */
  closed: Promise<{ code: number; reason: string; at: number }>;
  /** Resolves once `n` messages have arrived in total. */
  waitFor(n: number, timeoutMs?: number): Promise<void>;
}

export async function connect(port: number, path = '/'): Promise<Client> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`);
  const messages: (string | Buffer)[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  ws.on('message', (data, isBinary) => {
    messages.push(isBinary ? (data as Buffer) : data.toString());
    for (const w of [...waiters]) if (messages.length >= w.n) waiters.splice(waiters.indexOf(w), 1), w.resolve();
  });
  ws.on('error', () => {}); // the close event carries what the tests check
  const closed = once(ws, 'close').then(([code, reason]) => ({ code: code as number, reason: String(reason), at: performance.now() }));
  onTestFinished(() => ws.terminate());
  await once(ws, 'open');
  const waitFor = (n: number, timeoutMs = 15_000): Promise<void> =>
    messages.length >= n
      ? Promise.resolve()
      : new Promise((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`got ${messages.length} of ${n} messages`)), timeoutMs);
          waiters.push({ n, resolve: () => (clearTimeout(timer), resolve()) });
        });
  return { ws, messages, closed, waitFor };
}

/** Opens `n` connections, `batch` at a time. */
export async function connectMany(port: number, n: number, batch = 200): Promise<Client[]> {
  const out: Client[] = [];
  for (let i = 0; i < n; i += batch) {
    out.push(...(await Promise.all(Array.from({ length: Math.min(batch, n - i) }, () => connect(port)))));
  }
  return out;
}

/** An HTTP GET without keep-alive; resolves with the status. */
export async function httpStatus(port: number, path: string): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { headers: { connection: 'close' } });
  await res.arrayBuffer();
  return res.status;
}

/** Resolves true if a TCP connection to the port is refused. */
export async function refused(port: number): Promise<boolean> {
  const { connect: tcp } = await import('node:net');
  return new Promise((resolve) => {
    const s = tcp(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve(false)));
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNREFUSED'));
  });
}
