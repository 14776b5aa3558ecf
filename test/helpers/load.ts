/** Drives load-client.mjs processes: many connections, one request in flight on each. */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { onTestFinished } from 'vitest';

const CLIENT = fileURLToPath(new URL('./load-client.mjs', import.meta.url));

export interface LoadResult {
  /** Requests sent while the socket was open (before it saw the close frame). */
  sent: number;
  replies: number;
  lost: number;
  codes: Record<string, number>;
}

export interface LoadGroup {
  /** Resolves once every connection is open; returns how many opened. */
  opened: Promise<number>;
  /** Every socket sends one request; resolves once every client process has written them. */
  send(): Promise<void>;
  /** Resolves when every socket has closed, with the totals. */
  results: Promise<LoadResult>;
}

/** `total` connections over processes of at most `perProcess`, each from its own 127.0.0.x address. */
export function loadGroup(port: number, total: number, perProcess = 9_500): LoadGroup {
  const children: ChildProcessWithoutNullStreams[] = [];
  const opened: Promise<number>[] = [];
  const sending: Promise<unknown>[] = [];
  const results: Promise<LoadResult>[] = [];
  for (let i = 0; total - i * perProcess > 0; i++) {
    const n = Math.min(perProcess, total - i * perProcess);
    const child = spawn(process.execPath, [CLIENT, String(port), String(n), `127.0.0.${i + 2}`]);
    children.push(child);
    onTestFinished(() => {
      child.kill('SIGKILL');
    });
    const lines = createInterface({ input: child.stdout });
    const it = lines[Symbol.asyncIterator]();
    const first = it.next().then(({ value }) => JSON.parse(String(value)) as { opened: number; failed: number });
    opened.push(first.then((r) => r.opened));
    const sent = first.then(() => it.next());
    sending.push(sent);
    results.push(sent.then(() => it.next()).then(({ value }) => JSON.parse(String(value)) as LoadResult));
  }
  return {
    opened: Promise.all(opened).then((xs) => xs.reduce((a, b) => a + b, 0)),
    send: async () => {
      for (const c of children) c.stdin.write('send\n');
      await Promise.all(sending);
    },
    results: Promise.all(results).then((rs) => {
      const codes: Record<string, number> = {};
      for (const r of rs) for (const [k, v] of Object.entries(r.codes)) codes[k] = (codes[k] ?? 0) + v;
      const sum = (k: 'sent' | 'replies' | 'lost'): number => rs.reduce((a, r) => a + r[k], 0);
      return { sent: sum('sent'), replies: sum('replies'), lost: sum('lost'), codes };
    }),
  };
}
