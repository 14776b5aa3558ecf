/**
 * Echo round trips measured from a process that does nothing else.
 *
 *   node dist/src/loadgen/echo-probe.js PORT COUNT INTERVAL_MS [FIRST_MESSAGE]
 *
 * Opens COUNT WebSockets, sends FIRST_MESSAGE on each (a subscribe command,
 * say) and waits for its echo, then prints "ready". On a line "start" on stdin
 * each socket sends "ping <n>" every INTERVAL_MS and times the echo; on "stop"
 * it prints the round trips in ms as a JSON array and exits. Other messages
 * (publications, say) are skipped without being decoded.
 *
 * Why a process of its own: round trips timed in a process that also runs
 * other clients include that process's own stalls (garbage collection,
 * reading the other clients' traffic, parsing the server's log lines), which
 * are then reported as server latency. Used by the storm test
 * (test/helpers/storm.ts) and bench/fanout-burst.ts.
 */
import { createInterface } from 'node:readline';
import WebSocket from 'ws';

const P = 'p'.charCodeAt(0);

async function main(): Promise<void> {
  const [port, count, interval] = process.argv.slice(2, 5).map(Number) as [number, number, number];
  const first = process.argv[5];
  const sockets = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<WebSocket>((resolve, reject) => {
          const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: false });
          ws.once('error', reject);
          ws.once('open', () => {
            if (first === undefined) return resolve(ws);
            ws.once('message', () => resolve(ws));
            ws.send(first);
          });
        }),
    ),
  );
  const rtts: number[] = [];
  const sentAt = new Map<string, number>();
  for (const ws of sockets) {
    ws.on('message', (m: Buffer) => {
      if (m[0] !== P) return; // not an echo of ours
      const tag = m.toString();
      const t = sentAt.get(tag);
      if (t === undefined) return;
      sentAt.delete(tag);
      rtts.push(performance.now() - t);
    });
  }
  let timer: NodeJS.Timeout | undefined;
  let seq = 0;
  createInterface({ input: process.stdin }).on('line', (line) => {
    if (line === 'start' && timer === undefined) {
      timer = setInterval(() => {
        for (const ws of sockets) {
          const tag = `ping ${seq++}`;
          sentAt.set(tag, performance.now());
          ws.send(tag);
        }
      }, interval);
    } else if (line === 'stop') {
      clearInterval(timer);
      process.stdout.write(`${JSON.stringify(rtts)}\n`, () => process.exit(0));
    }
  });
  process.stdout.write('ready\n');
}

await main();
