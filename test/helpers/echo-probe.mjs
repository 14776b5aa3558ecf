// Echo round trips measured from a process that does nothing else.
//   node echo-probe.mjs PORT COUNT INTERVAL_MS [FIRST_MESSAGE]
// Opens COUNT WebSockets, sends FIRST_MESSAGE on each (a subscribe command,
// say) and waits for its echo, and prints "ready". On a line "start" on stdin each
// socket sends "ping <t>" every INTERVAL_MS and times the echo; on "stop" it
// prints the round trips in ms as a JSON array and exits.
// Why a process of its own: round trips timed in the test process include that
// process's own stalls (garbage collection, reading the other clients' traffic,
// parsing the server's log lines), which are then reported as server latency.
import { createInterface } from 'node:readline';
import WebSocket from 'ws';

const [port, count, interval] = process.argv.slice(2, 5).map(Number);
const first = process.argv[5];
const P = 'p'.charCodeAt(0);
const sockets = await Promise.all(
  Array.from(
    { length: count },
    () =>
      new Promise((resolve, reject) => {
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
const rtts = [];
const sentAt = new Map();
for (const ws of sockets) {
  ws.on('message', (m) => {
    if (m[0] !== P) return; // not an echo of ours (a publication, say): not even decoded
    const tag = String(m);
    const t = sentAt.get(tag);
    if (t === undefined) return;
    sentAt.delete(tag);
    rtts.push(performance.now() - t);
  });
}
let timer = null;
let seq = 0;
createInterface({ input: process.stdin }).on('line', (line) => {
  if (line === 'start' && timer === null) {
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
