// Connection flood and reconnect storm, in its own process.
//   node flood-client.mjs PORT COUNT SOURCE_ADDRESS
// Opens COUNT WebSockets all at once (no rate limit) and prints
// {"opened","failed","ms"}. Every socket that is then closed by the server
// reconnects at once, one time; when all have, it prints
// {"reconnected","failedReconnects","ms"} (ms from the first close).
import WebSocket from 'ws';

const [port, count, source] = [Number(process.argv[2]), Number(process.argv[3]), process.argv[4] ?? '127.0.0.1'];
const url = `ws://127.0.0.1:${port}/`;
const t0 = performance.now();
let opened = 0;
let failed = 0;
let firstClose = 0;
let reconnected = 0;
let failedReconnects = 0;

function report() {
  if (opened + failed === count) process.stdout.write(`${JSON.stringify({ opened, failed, ms: Math.round(performance.now() - t0) })}\n`);
}

function reconnectDone() {
  if (reconnected + failedReconnects === opened) {
    process.stdout.write(`${JSON.stringify({ reconnected, failedReconnects, ms: Math.round(performance.now() - firstClose) })}\n`);
    setTimeout(() => process.exit(0), 100);
  }
}

for (let i = 0; i < count; i++) {
  const ws = new WebSocket(url, { localAddress: source, perMessageDeflate: false });
  let wasOpen = false;
  ws.on('error', () => {});
  ws.on('open', () => {
    wasOpen = true;
    opened++;
    report();
  });
  ws.on('close', () => {
    if (!wasOpen) {
      failed++;
      report();
      return;
    }
    firstClose ||= performance.now();
    const again = new WebSocket(url, { localAddress: source, perMessageDeflate: false });
    let settled = false;
    again.on('error', () => {});
    again.on('open', () => {
      settled = true;
      reconnected++;
      reconnectDone();
    });
    again.on('close', () => {
      if (settled) return; // closed later by the end of the test
      settled = true;
      failedReconnects++;
      reconnectDone();
    });
  });
}
setTimeout(() => {
  process.stdout.write(`${JSON.stringify({ timeout: true, opened, failed, reconnected, failedReconnects })}\n`);
  process.exit(1);
}, 120_000).unref();
