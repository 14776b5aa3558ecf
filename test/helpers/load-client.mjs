// A load client in its own process (each process may hold at most ~20,000 fds here).
//   node load-client.mjs PORT COUNT [SOURCE_ADDRESS]
// Opens COUNT WebSockets (500 at a time), prints {"opened":N,"failed":N}. On a
// line "send" on stdin every socket sends one request "r:<i>" (then it prints
// {"sending":N}). When every
// socket has closed it prints {"replies","lost","codes","repliedBeforeClose"}
// and exits. "lost" = requests sent with no reply before that socket's close.
import { createInterface } from 'node:readline';
import WebSocket from 'ws';

const [port, count, source] = [Number(process.argv[2]), Number(process.argv[3]), process.argv[4] ?? '127.0.0.1'];
const sockets = [];
let opened = 0;
let failed = 0;
let closed = 0;
let replies = 0;
let sent = 0;
let lost = 0;
const codes = {};

function done() {
  process.stdout.write(`${JSON.stringify({ sent, replies, lost, codes })}\n`);
  process.exit(0);
}

function open(i) {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { localAddress: source, perMessageDeflate: false });
  const state = { ws, sent: false, replied: false };
  ws.on('open', () => {
    opened++;
    sockets.push(state);
    if (opened + failed === count) process.stdout.write(`${JSON.stringify({ opened, failed })}\n`);
  });
  ws.on('message', (m) => {
    if (String(m) === `r:${i}`) {
      state.replied = true;
      replies++;
    }
  });
  ws.on('error', () => {});
  ws.on('close', (code) => {
    if (!sockets.includes(state)) {
      failed++;
      if (opened + failed === count) process.stdout.write(`${JSON.stringify({ opened, failed })}\n`);
      return;
    }
    codes[code] = (codes[code] ?? 0) + 1;
    if (state.sent) sent++;
    if (state.sent && !state.replied) lost++;
    if (++closed === opened) done();
  });
  state.send = () => {
    // Only a request sent before this socket saw the close frame counts.
    if (ws.readyState !== WebSocket.OPEN) return;
    state.sent = true;
    ws.send(`r:${i}`);
  };
}

let next = 0;
const opener = setInterval(() => {
  for (let k = 0; k < 500 && next < count; k++) open(next++);
  if (next >= count) clearInterval(opener);
}, 20);

createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.trim() !== 'send') return;
  for (const s of sockets) s.send();
  process.stdout.write(`${JSON.stringify({ sending: sockets.length })}\n`);
});
setTimeout(() => {
  process.stdout.write(`${JSON.stringify({ timeout: true, opened, closed, replies, lost, codes })}\n`);
  process.exit(1);
}, 120_000).unref();
