// COUNT shardline/client instances in one process, all subscribed to TOPIC
// (a history topic), for the rolling-deploy stress test.
//   fork('fleet-clients.mjs', [URL, COUNT, TOPIC])
// Messages to the parent: {type:'ready'} once every client is connected and
// subscribed; on {type:'phase', phase} later deliveries count in that phase's
// latency histogram; on {type:'report'} it answers {type:'report', ...} with
// per-process totals (see below) and keeps running; on {type:'close'} it
// closes every client and exits.
// Publications carry {t: Date.now() at publish}; a delivery's latency is the
// receive time minus t (same machine, same clock), in 1 ms buckets.
import WebSocket from 'ws';
import { createClient } from '../../dist/src/client/index.js';

const [url, countArg, topic] = process.argv.slice(2);
const count = Number(countArg);
const BUCKETS = 30_000; // 1 ms each, up to 30 s (the last bucket takes anything slower)
const latency = { quiet: new Array(BUCKETS).fill(0), roll: new Array(BUCKETS).fill(0), after: new Array(BUCKETS).fill(0) };
let phase = 'quiet';
const states = [];

function track(i) {
  const st = {
    client: createClient(url, { WebSocket, network: null }),
    received: 0,
    last: 0,
    duplicates: 0,
    gaps: 0,
    recoveredFalse: 0,
    subscribed: false,
    disconnectedAt: 0,
    /** ms from each disconnect to the next connected */
    outages: [],
    /** Date.now() of each connected after the first */
    reconnects: [],
    codes: {},
    errors: 0,
  };
  const sub = st.client.subscribe(topic, (data, ctx) => {
    const off = ctx.offset ?? 0;
    if (off <= st.last) st.duplicates++;
    else if (off !== st.last + 1) st.gaps++;
    st.last = Math.max(st.last, off);
    st.received++;
    const ms = Math.max(0, Date.now() - (data && typeof data.t === 'number' ? data.t : Date.now()));
    latency[phase][Math.min(BUCKETS - 1, Math.floor(ms))]++;
  });
  sub.on('subscribed', (e) => {
    st.subscribed = true;
    if (e.recovered === false) st.recoveredFalse++;
    maybeReady();
  });
  st.client.on('connected', () => {
    maybeReady(); // a subscription's reply comes before its client's `connected`
    if (st.disconnectedAt > 0) {
      const now = Date.now();
      st.outages.push(now - st.disconnectedAt);
      st.reconnects.push(now);
      st.disconnectedAt = 0;
    }
  });
  st.client.on('disconnected', ({ code, reason }) => {
    st.codes[code] = (st.codes[code] ?? 0) + 1;
    st.lastClose = `${code} ${reason}`;
    if (st.disconnectedAt === 0) st.disconnectedAt = Date.now();
  });
  st.client.on('error', () => st.errors++);
  states[i] = st;
}

let readySent = false;
// Progress for a test that waits on 'ready': how many are in, every 5 s.
const progress = setInterval(() => {
  if (readySent) return clearInterval(progress);
  const connected = states.filter((s) => s.client.state === 'connected').length;
  const subscribed = states.filter((s) => s.subscribed).length;
  console.log(`fleet-clients ${process.pid}: ${states.length} of ${count} created, ${connected} connected, ${subscribed} subscribed`);
}, 5_000);
function maybeReady() {
  if (readySent || states.length < count) return;
  if (states.every((s) => s.subscribed && s.client.state === 'connected')) {
    readySent = true;
    process.send({ type: 'ready' });
  }
}

// Open in batches of 50 per 20 ms: 1,000 clients over ~0.4 s, not one SYN flood.
let next = 0;
const opener = setInterval(() => {
  for (let k = 0; k < 50 && next < count; k++) track(next++);
  if (next >= count) clearInterval(opener);
}, 20);

process.on('message', (msg) => {
  switch (msg.type) {
    case 'phase':
      phase = msg.phase;
      return;
    case 'report': {
      const codes = {};
      for (const s of states) for (const [c, n] of Object.entries(s.codes)) codes[c] = (codes[c] ?? 0) + n;
      process.send({
        type: 'report',
        clients: states.length,
        connected: states.filter((s) => s.client.state === 'connected').length,
        received: states.map((s) => s.received),
        last: states.map((s) => s.last),
        duplicates: states.reduce((a, s) => a + s.duplicates, 0),
        gaps: states.reduce((a, s) => a + s.gaps, 0),
        recoveredFalse: states.reduce((a, s) => a + s.recoveredFalse, 0),
        errors: states.reduce((a, s) => a + s.errors, 0),
        outages: states.flatMap((s) => s.outages),
        reconnects: states.flatMap((s) => s.reconnects),
        codes,
        // Why the clients that are not connected now are not: state and their last close.
        stragglers: states
          .filter((s) => s.client.state !== 'connected')
          .slice(0, 20)
          .map((s) => `${s.client.state}: ${s.lastClose ?? 'never connected'}`),
        latency,
      });
      return;
    }
    case 'close':
      for (const s of states) s.client.close();
      setTimeout(() => process.exit(0), 200);
      return;
    default:
      throw new Error(`unknown message ${JSON.stringify(msg)}`);
  }
});
