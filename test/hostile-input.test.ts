/**
 * Hostile input: a real server process, real sockets. Each case checks that
 * the hostile connection gets a clear, bounded reaction, and that a client
 * connected beforehand is unaffected (its echo still answers afterwards) and
 * the process neither crashed nor began a drain.
 *
 * Two reactions RFC 6455 asks for cannot be had from the uWS build this
 * project runs on (v20.30): it answers invalid UTF-8, and a frame beyond its
 * own payload cap, by dropping the TCP connection without a close frame (the
 * client sees 1006). Those cases assert the bounded reaction that does happen,
 * and an `it.fails` next to each records the RFC's close code, so that it turns
 * red (to be flipped) the day a uWS build sends it.
 */
import { randomBytes } from 'node:crypto';
import { connect as tcp, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it, onTestFinished } from 'vitest';
import { connect, httpStatus, type Client } from './helpers/client.js';
import { configFile, startServer, type ServerProcess } from './helpers/server.js';

// ---- helpers ---------------------------------------------------------------

/** Nothing a client can see may reveal internals: no stack frames, no paths on this machine. */
function expectClean(text: string): void {
  expect(text).not.toContain('/work/');
  expect(text).not.toContain('node_modules');
  expect(text).not.toContain(' at ');
  expect(text).not.toMatch(/\.(?:ts|js|mjs):\d+/);
}

/** The process is alive, no drain began, no shard failed. */
async function expectHealthy(server: ServerProcess): Promise<void> {
  expect(server.child.exitCode).toBeNull();
  expect(server.child.signalCode).toBeNull();
  expect(await httpStatus(server.port, '/healthz')).toBe(200);
  expect(await httpStatus(server.port, '/readyz')).toBe(200);
  expect(server.logs.filter((l) => l.msg === 'drain' || /shard|fatal/i.test(l.msg) || l.level >= 60)).toEqual([]);
}

let seq = 0;
/** The bystander still gets its echo. */
async function expectEcho(client: Client): Promise<void> {
  const n = client.messages.length;
  const text = `still here ${++seq}`;
  client.ws.send(text);
  await client.waitFor(n + 1, 5000);
  expect(client.messages[n]).toBe(text);
}

/** Resolves with the value, or 'timeout' after `ms`. */
function within<T>(p: Promise<T>, ms: number): Promise<T | 'timeout'> {
  return Promise.race([p, sleep(ms).then(() => 'timeout' as const)]);
}

interface Raw {
  socket: Socket;
  /** Every byte received so far. */
  data(): Buffer;
  /** Resolves with the ms from connect until the server closed the connection. */
  closed: Promise<number>;
  connectedAt: number;
}

async function rawConnect(port: number): Promise<Raw> {
  const socket = tcp(port, '127.0.0.1');
  onTestFinished(() => void socket.destroy());
  let buf = Buffer.alloc(0);
  socket.on('data', (d: Buffer) => (buf = Buffer.concat([buf, d])));
  socket.on('error', () => {}); // a reset is a close as far as these tests go
  let connectedAt = 0;
  const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(performance.now() - connectedAt)));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => ((connectedAt = performance.now()), resolve()));
    socket.once('error', reject);
  });
  return { socket, data: () => buf, closed, connectedAt };
}

function upgradeRequest(headers: Record<string, string> = {}, path = '/'): string {
  const all: Record<string, string> = {
    Host: '127.0.0.1',
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
    'Sec-WebSocket-Version': '13',
    ...headers,
  };
  return `GET ${path} HTTP/1.1\r\n${Object.entries(all)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('')}\r\n`;
}

function headerEnd(buf: Buffer): number {
  const i = buf.indexOf('\r\n\r\n');
  return i < 0 ? -1 : i + 4;
}

async function waitUntil(cond: () => boolean, ms: number): Promise<boolean> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) return false;
    await sleep(10);
  }
  return true;
}

/** A raw socket after a successful (101) upgrade. */
async function rawUpgrade(port: number): Promise<Raw> {
  const raw = await rawConnect(port);
  raw.socket.write(upgradeRequest());
  expect(await waitUntil(() => headerEnd(raw.data()) > 0, 3000)).toBe(true);
  expect(raw.data().toString('latin1')).toMatch(/^HTTP\/1\.1 101 /);
  return raw;
}

/** A client-to-server (masked) frame. */
function maskedFrame(opcode: number, payload: Buffer | string, fin = true): Buffer {
  const p = Buffer.from(payload);
  const mask = randomBytes(4);
  const masked = Buffer.from(p.map((b, i) => b ^ (mask[i % 4] as number)));
  let head: Buffer;
  if (p.length < 126) {
    head = Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | p.length]);
  } else if (p.length < 65536) {
    head = Buffer.alloc(4);
    head[0] = (fin ? 0x80 : 0) | opcode;
    head[1] = 0x80 | 126;
    head.writeUInt16BE(p.length, 2);
  } else {
    head = Buffer.alloc(10);
    head[0] = (fin ? 0x80 : 0) | opcode;
    head[1] = 0x80 | 127;
    head.writeBigUInt64BE(BigInt(p.length), 2);
  }
  return Buffer.concat([head, mask, masked]);
}

/** Server-to-client frames after the 101 header (unmasked); stops at an incomplete frame. */
function serverFrames(buf: Buffer): { opcode: number; payload: Buffer }[] {
  const frames: { opcode: number; payload: Buffer }[] = [];
  let at = headerEnd(buf);
  if (at < 0) return frames;
  while (at + 2 <= buf.length) {
    const b0 = buf[at] as number;
    let len = (buf[at + 1] as number) & 0x7f;
    let off = at + 2;
    if (len === 126) {
      if (off + 2 > buf.length) break;
      len = buf.readUInt16BE(off);
      off += 2;
    } else if (len === 127) {
      if (off + 8 > buf.length) break;
      len = Number(buf.readBigUInt64BE(off));
      off += 8;
    }
    if (off + len > buf.length) break;
    frames.push({ opcode: b0 & 0x0f, payload: buf.subarray(off, off + len) });
    at = off + len;
  }
  return frames;
}

/** The close frame the server sent, or 1006 (RFC 6455 7.1.5) if it only closed the TCP connection. */
function closeOf(raw: Raw): { code: number; reason: string } {
  const frame = serverFrames(raw.data()).find((f) => f.opcode === 0x8);
  if (frame === undefined) return { code: 1006, reason: '' };
  if (frame.payload.length < 2) return { code: 1005, reason: '' };
  return { code: frame.payload.readUInt16BE(0), reason: frame.payload.subarray(2).toString('utf8') };
}

/** The status of a raw HTTP response, or null if the server answered nothing. */
function statusOf(raw: Raw): number | null {
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(raw.data().toString('latin1'));
  return m ? Number(m[1]) : null;
}

// ---- the cases -------------------------------------------------------------

describe('hostile input', () => {
  it('closes a socket that sends a message over limits.maxPayloadBytes with 1009, and only that socket', async ({ annotate }) => {
    const server = await startServer(['--shards', '1', '--config', configFile({ limits: { maxPayloadBytes: 1024 } })]);
    const bystander = await connect(server.port);
    const attacker = await connect(server.port);
    // Exactly at the limit is fine.
    attacker.ws.send('a'.repeat(1024));
    await attacker.waitFor(1, 5000);
    expect(attacker.messages[0]).toHaveLength(1024);

    const t0 = performance.now();
    attacker.ws.send('b'.repeat(1025));
    const close = await within(attacker.closed, 3000);
    expect(close).not.toBe('timeout');
    if (close === 'timeout') return;
    expect(close.at - t0).toBeLessThan(3000);
    expect(attacker.messages).toHaveLength(1); // the oversized message was not echoed
    await annotate(`oversized message: closed ${close.code} '${close.reason}' after ${Math.round(close.at - t0)} ms`);
    expectClean(close.reason);
    // RFC 6455 7.4.1: 1009 "message too big", sent by shardline itself (uWS's own cap is higher).
    expect(close.code, 'close code for an oversized message').toBe(1009);

    await expectEcho(bystander);
    await expectHealthy(server);
  });

  async function sendInvalidUtf8(port: number): Promise<{ raw: Raw; after: number | 'timeout' }> {
    const raw = await rawUpgrade(port);
    raw.socket.write(maskedFrame(0x1, Buffer.from([0xc3, 0x28])));
    return { raw, after: await within(raw.closed, 3000) };
  }

  it('cuts off a socket that sends invalid UTF-8 in a text frame at once, and only that socket', async ({ annotate }) => {
    const server = await startServer(['--shards', '1']);
    const bystander = await connect(server.port);
    const { raw, after } = await sendInvalidUtf8(server.port);
    expect(after).not.toBe('timeout');
    const close = closeOf(raw);
    await annotate(`invalid UTF-8: closed ${close.code} '${close.reason}' ${after === 'timeout' ? 'never' : `${Math.round(after)} ms after connect`}`);
    expectClean(close.reason);
    // No echo of the invalid text came back.
    expect(serverFrames(raw.data()).filter((f) => f.opcode === 0x1)).toEqual([]);
    // 1007 is what RFC 6455 8.1 asks for; uWS v20.30 drops the TCP connection (1006). See the it.fails below.
    expect([1006, 1007]).toContain(close.code);

    await expectEcho(bystander);
    await expectHealthy(server);
  });

  it.fails('sends close code 1007 for invalid UTF-8 (uWS v20.30 sends no close frame: known limitation)', async () => {
    const server = await startServer(['--shards', '1']);
    const { raw } = await sendInvalidUtf8(server.port);
    expect(closeOf(raw).code).toBe(1007);
  });

  it('closes connections that send garbage instead of an HTTP upgrade, and keeps serving', { timeout: 30_000 }, async ({ annotate }) => {
    const server = await startServer(['--shards', '2']);
    const bystander = await connect(server.port);
    const garbage: Buffer[] = [
      randomBytes(512),
      Buffer.from('NOT HTTP AT ALL\r\n\r\n'),
      Buffer.from('GET / HTTP/1.1\r\nHost 127.0.0.1\r\nUpgrade websocket\r\n\r\n'), // header lines without a colon
      Buffer.from('GET / HTTP/9.9\r\n\r\n'),
      Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]), // a TLS ClientHello on the plain port
      Buffer.from('\x00\x00\x00\x00\r\n\r\n'),
    ];
    const raws = await Promise.all(garbage.map(() => rawConnect(server.port)));
    raws.forEach((raw, i) => raw.socket.write(garbage[i] as Buffer));

    // While they are open, the server serves everyone else.
    expect(await httpStatus(server.port, '/healthz')).toBe(200);
    await expectEcho(bystander);

    // Observed: uWS answers none of them and drops them at its HTTP idle timeout
    // (10 s on a 4 s timer tick: 8-12 s after connect).
    const closedAfter = await Promise.all(raws.map((raw) => within(raw.closed, 16_000)));
    await annotate(
      `garbage: ${raws.map((raw, i) => `#${i} status ${statusOf(raw)} closed ${closedAfter[i] === 'timeout' ? 'never' : `${Math.round(closedAfter[i] as number)} ms`}`).join('; ')}`,
    );
    for (const [i, raw] of raws.entries()) {
      expect(closedAfter[i], `garbage #${i} closed`).not.toBe('timeout');
      const status = statusOf(raw);
      expect(status === null || (status >= 400 && status < 500), `garbage #${i} got status ${status}`).toBe(true);
      expect(raw.data().toString('latin1')).not.toMatch(/^HTTP\/1\.1 101/);
      expectClean(raw.data().toString('latin1'));
    }
    await expectEcho(bystander);
    await expectHealthy(server);
  });

  it.for([
    ['a too-short Sec-WebSocket-Key', { 'Sec-WebSocket-Key': 'c2hvcnQ=' }],
    ['a 24-character Sec-WebSocket-Key that is not base64', { 'Sec-WebSocket-Key': '!!!!!!!!!!!!!!!!!!!!!!==' }],
    ['no Sec-WebSocket-Key', { 'Sec-WebSocket-Key': '' }],
    ['Sec-WebSocket-Version: 7', { 'Sec-WebSocket-Version': '7' }],
    ['Sec-WebSocket-Version: 14', { 'Sec-WebSocket-Version': '14' }],
  ] as const)('does not answer 101 to an upgrade with %s', async ([_name, headers], { annotate }) => {
    const server = await startServer(['--shards', '1']);
    const bystander = await connect(server.port);
    const raw = await rawConnect(server.port);
    const request = upgradeRequest(headers).replace(/^Sec-WebSocket-Key: \r\n/m, '');
    raw.socket.write(request);
    await waitUntil(() => headerEnd(raw.data()) > 0, 3000);
    const status = statusOf(raw);
    await annotate(`${_name}: ${raw.data().toString('latin1').split('\r\n')[0] || 'no answer'}`);
    expectClean(raw.data().toString('latin1'));
    // RFC 6455 4.2.2: 400 for a bad handshake, 426 + Sec-WebSocket-Version: 13 for an unsupported version;
    // any non-101 answer (404 included) keeps the socket from becoming a WebSocket.
    expect(status, `status for ${_name}: ${raw.data().toString('latin1').split('\r\n')[0]}`).not.toBe(101);
    await expectEcho(bystander);
    await expectHealthy(server);
  });

  it('cuts off a slowloris upgrade (one header byte every 500 ms) within a bounded time', { timeout: 30_000 }, async ({ annotate }) => {
    const server = await startServer(['--shards', '1']);
    const bystander = await connect(server.port);
    const raw = await rawConnect(server.port);
    const request = upgradeRequest();
    let sent = 0;
    const drip = setInterval(() => {
      if (sent < request.length && !raw.socket.destroyed) raw.socket.write(request[sent++] as string);
    }, 500);
    onTestFinished(() => clearInterval(drip));

    // While it drips, the server serves everyone else, at once.
    await sleep(1200);
    const t0 = performance.now();
    expect(await httpStatus(server.port, '/healthz')).toBe(200);
    expect(await httpStatus(server.port, '/no/such/path')).toBe(404);
    await expectEcho(bystander);
    expect(performance.now() - t0).toBeLessThan(2000);

    // Observed: uWS's HTTP timeout (10 s, checked on a 4 s tick) is not reset by
    // partial header bytes, so the connection is dropped 8-12 s after connect.
    const after = await within(raw.closed, 16_000);
    clearInterval(drip);
    await annotate(
      `slowloris: ${after === 'timeout' ? 'still open after 15 s' : `cut off ${Math.round(after)} ms after connect`}, ${sent} of ${request.length} bytes sent, answer ${JSON.stringify(raw.data().toString('latin1').slice(0, 40))}`,
    );
    expect(after, 'slowloris connection cut off').not.toBe('timeout');
    if (after === 'timeout') return;
    expect(after).toBeLessThan(16_000);
    expect(sent).toBeLessThan(request.length); // it was cut off before its request was complete
    expect(statusOf(raw)).not.toBe(101);
    expectClean(raw.data().toString('latin1'));
    await expectEcho(bystander);
    await expectHealthy(server);
  });

  it('answers 404 on unknown paths and methods and 200 on /healthz, with bodies that reveal nothing', async () => {
    const server = await startServer(['--shards', '2']);
    const bystander = await connect(server.port);
    const url = (p: string): string => `http://127.0.0.1:${server.port}${p}`;
    const cases: [string, string, number][] = [
      ['GET', '/healthz', 200],
      ['GET', '/readyz', 200],
      ['GET', '/nope', 404],
      ['GET', '/healthz/../../etc/passwd', 404],
      ['GET', '/%00%ff%c3%28', 404],
      ['GET', `/${'a'.repeat(2000)}`, 404],
      ['POST', '/', 404],
      ['DELETE', '/healthz', 404],
      ['OPTIONS', '/readyz', 404],
    ];
    for (const [method, path, expected] of cases) {
      const res = await fetch(url(path), { method, headers: { connection: 'close' } });
      const body = await res.text();
      expect(res.status, `${method} ${path.slice(0, 40)}`).toBe(expected);
      expectClean(body);
    }
    await expectEcho(bystander);
    await expectHealthy(server);
  });

  it('drops requests with oversized or too many headers without crashing, and keeps serving', { timeout: 30_000 }, async ({ annotate }) => {
    const server = await startServer(['--shards', '1']);
    const bystander = await connect(server.port);
    const requests: [string, string][] = [
      ['a 64 KiB header', `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'h'.repeat(64 * 1024)}\r\n\r\n`],
      ['a 1 MiB header', `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'h'.repeat(1024 * 1024)}\r\n\r\n`],
      ['200 headers', `GET /healthz HTTP/1.1\r\nHost: x\r\n${Array.from({ length: 200 }, (_, i) => `X-${i}: v\r\n`).join('')}\r\n`],
      ['an upgrade with 200 headers', upgradeRequest(Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`X-${i}`, 'v'])))],
    ];
    const raws = await Promise.all(requests.map(() => rawConnect(server.port)));
    raws.forEach((raw, i) => raw.socket.write((requests[i] as [string, string])[1]));
    await expectEcho(bystander);
    expect(await httpStatus(server.port, '/healthz')).toBe(200);
    const closedAfter = await Promise.all(raws.map((raw) => within(raw.closed, 16_000)));
    await annotate(
      requests
        .map(
          ([what], i) =>
            `${what}: status ${statusOf(raws[i] as Raw)}, closed ${closedAfter[i] === 'timeout' ? 'never' : `${Math.round(closedAfter[i] as number)} ms after connect`}`,
        )
        .join('; '),
    );
    for (const [i, raw] of raws.entries()) {
      const what = (requests[i] as [string, string])[0];
      expect(closedAfter[i], `${what}: closed`).not.toBe('timeout');
      const status = statusOf(raw);
      expect(status === null || status === 431 || status === 400 || status === 200, `${what}: status ${status}`).toBe(true);
      expectClean(raw.data().toString('latin1'));
    }
    await expectEcho(bystander);
    await expectHealthy(server);
  });

  it('bounds a fragmented message that never finishes (idleTimeoutSec: 8)', { timeout: 30_000 }, async ({ annotate }) => {
    const server = await startServer(['--shards', '1', '--config', configFile({ idleTimeoutSec: 8, limits: { maxPayloadBytes: 1024 } })]);
    const bystander = await connect(server.port);

    // 1. A first fragment (FIN=0) and then silence: the idle timeout ends it.
    const silent = await rawUpgrade(server.port);
    silent.socket.write(maskedFrame(0x1, 'abc', false));

    // 2. Continuations that never finish but keep growing: they are cut once
    // they pass uWS's hard cap (2 x maxPayloadBytes + 1 KiB, see shard.ts).
    const growing = await rawUpgrade(server.port);
    growing.socket.write(maskedFrame(0x1, 'abc', false));
    const t0 = performance.now();
    for (let i = 0; i < 40 && !growing.socket.destroyed; i++) {
      growing.socket.write(maskedFrame(0x0, 'x'.repeat(100), false));
      await sleep(10);
    }
    const grew = await within(growing.closed, 3000);
    expect(grew, 'growing fragment closed').not.toBe('timeout');
    await annotate(`growing fragment: closed ${closeOf(growing).code} ${Math.round(performance.now() - t0)} ms after the first continuation`);
    expect(performance.now() - t0).toBeLessThan(3000);
    expect(serverFrames(growing.data()).filter((f) => f.opcode === 0x1 || f.opcode === 0x0)).toEqual([]);
    expectClean(closeOf(growing).reason);

    // 3. A fragmented message that completes over the limit (but under the cap) gets a proper 1009.
    const over = await rawUpgrade(server.port);
    over.socket.write(maskedFrame(0x1, 'x'.repeat(600), false));
    over.socket.write(maskedFrame(0x0, 'y'.repeat(600), true));
    expect(await within(over.closed, 3000)).not.toBe('timeout');
    expect(closeOf(over).code).toBe(1009);

    // Observed: uWS pings after ~4 s of silence and closes (TCP only) at its
    // next timer tick, ~5-8 s after the last byte.
    const quiet = await within(silent.closed, 12_000);
    const pings = serverFrames(silent.data()).filter((f) => f.opcode === 0x9).length;
    await annotate(
      `silent fragment: ${quiet === 'timeout' ? 'still open after 12 s' : `closed ${closeOf(silent).code} ${Math.round(quiet)} ms after connect`}, ${pings} ping(s) seen`,
    );
    expect(quiet, 'silent unfinished fragment closed').not.toBe('timeout');
    if (quiet === 'timeout') return;
    expect(quiet).toBeLessThan(8000 + 2000);
    expect(serverFrames(silent.data()).filter((f) => f.opcode === 0x1 || f.opcode === 0x0)).toEqual([]);
    expectClean(closeOf(silent).reason);

    // The bystander answered uWS's pings (ws does) and is still served.
    expect(bystander.ws.readyState).toBe(bystander.ws.OPEN);
    await expectEcho(bystander);
    await expectHealthy(server);
    // Beyond uWS's cap the connection is dropped without a close frame (1006): the known limitation above.
    expect([1006, 1009]).toContain(closeOf(growing).code);
  });

  describe("the built-in app's JSON protocol", () => {
    const LIMIT = 256 * 1024;

    /** Sends `data` and resolves with its echo, or the close if the socket was closed instead. */
    async function sendAndSee(client: Client, data: string): Promise<{ echo: string | Buffer } | { close: { code: number; reason: string; at: number } }> {
      const n = client.messages.length;
      client.ws.send(data);
      const outcome = await within(
        Promise.race([client.waitFor(n + 1, 10_000).then(() => ({ echo: client.messages[n] as string | Buffer })), client.closed.then((close) => ({ close }))]),
        10_000,
      );
      if (outcome === 'timeout') throw new Error(`neither an echo nor a close for a ${data.length}-byte message`);
      return outcome;
    }

    /** An echo of exactly what was sent, or a proper close code (not 1006), with a reason that reveals nothing. */
    function expectEchoOrProperClose(outcome: Awaited<ReturnType<typeof sendAndSee>>, sent: string, what: string): void {
      if ('echo' in outcome) {
        expect(outcome.echo === sent, `${what}: echo differs`).toBe(true);
        return;
      }
      expectClean(outcome.close.reason);
      expect([1007, 1008, 1009, 1011], `${what}: closed with ${outcome.close.code} '${outcome.close.reason}'`).toContain(outcome.close.code);
    }

    it('echoes malformed JSON as it came', async () => {
      const server = await startServer(['--shards', '2']);
      const bystander = await connect(server.port);
      const client = await connect(server.port);
      const malformed = [
        '{',
        '{"subscribe":',
        '{"publish":"t","data":}',
        '{"publish":"t","data":undefined}',
        '{"a":1}}',
        '{"subscribe":"t"',
        '{\u0000}',
        '{"__proto__":{"polluted":true},"subscribe":"x"}',
        '{"subscribe":{"toString":1},"publish":[],"unsubscribe":null}',
        '{"publish":"t","data":1e999999}',
        `{"${'k'.repeat(60_000)}":1}`,
        '[]',
        'null',
        '',
      ];
      for (const text of malformed) {
        const outcome = await sendAndSee(client, text);
        expect('echo' in outcome, `malformed ${JSON.stringify(text.slice(0, 40))}: ${JSON.stringify(outcome).slice(0, 200)}`).toBe(true);
        if ('echo' in outcome) expect(outcome.echo).toBe(text);
      }
      await expectEcho(bystander);
      await expectHealthy(server);
    });

    it('echoes a JSON message just under maxPayloadBytes and closes one just over it', async ({ annotate }) => {
      const server = await startServer(['--shards', '1', '--config', configFile({ limits: { maxPayloadBytes: LIMIT } })]);
      const bystander = await connect(server.port);
      const subscriber = await connect(server.port);
      subscriber.ws.send('{"subscribe":"t"}');
      await subscriber.waitFor(1, 5000);

      const client = await connect(server.port);
      const wrap = (size: number): string => {
        const head = '{"publish":"t","data":"';
        return `${head}${'x'.repeat(size - head.length - 2)}"}`;
      };
      const under = wrap(LIMIT);
      expect(Buffer.byteLength(under)).toBe(LIMIT);
      const ok = await sendAndSee(client, under);
      expect('echo' in ok && ok.echo === under, 'echo of a message exactly at the limit').toBe(true);

      const over = wrap(LIMIT + 1);
      const t0 = performance.now();
      const outcome = await sendAndSee(client, over);
      expect('close' in outcome, 'a message over the limit is not echoed').toBe(true);
      expect(performance.now() - t0).toBeLessThan(3000);
      if ('close' in outcome) {
        await annotate(`JSON ${LIMIT + 1} bytes: closed ${outcome.close.code} '${outcome.close.reason}' after ${Math.round(outcome.close.at - t0)} ms`);
        expectClean(outcome.close.reason);
      }
      // Neither big message published anything: the app only acts on commands up to 64 KiB.
      await sleep(100);
      expect(subscriber.messages).toHaveLength(1);
      await expectEcho(subscriber);
      await expectEcho(bystander);
      await expectHealthy(server);
      if ('close' in outcome) expect(outcome.close.code, 'close code for a JSON message over the limit').toBe(1009);
    });

    it('survives deeply nested JSON (100,000 deep arrays, and the deepest publish that fits a command)', async ({ annotate }) => {
      const server = await startServer(['--shards', '1', '--config', configFile({ limits: { maxPayloadBytes: LIMIT } })]);
      const bystander = await connect(server.port);
      const subscriber = await connect(server.port);
      subscriber.ws.send('{"subscribe":"t"}');
      await subscriber.waitFor(1, 5000);

      const nested = (depth: number): string => '['.repeat(depth) + ']'.repeat(depth);
      const objects = (depth: number): string => '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
      const inputs: [string, string][] = [
        ['100,000-deep arrays', nested(100_000)],
        ['a subscribe with 100,000-deep data', `{"subscribe":"u","data":${nested(100_000)}}`],
        ['10,000-deep objects (under 64 KiB, so the app parses them)', objects(10_000)],
        ['a publish with 10,000-deep object data (under 64 KiB)', `{"publish":"t","data":${objects(10_000)}}`],
        ['a publish with 32,000-deep data (under 64 KiB)', `{"publish":"t","data":${nested(32_000)}}`],
        ['an unterminated 100,000-deep array', '{"publish":"t","data":' + '['.repeat(100_000)],
      ];
      for (const [what, text] of inputs) {
        expect(Buffer.byteLength(text)).toBeLessThanOrEqual(LIMIT);
        const client = await connect(server.port);
        const outcome = await sendAndSee(client, text);
        await annotate(`${what}: ${'echo' in outcome ? `echo (${outcome.echo.length} chars)` : `closed ${outcome.close.code} '${outcome.close.reason}'`}`);
        expectEchoOrProperClose(outcome, text, what);
        if ('echo' in outcome) await expectEcho(client);
        await expectEcho(bystander);
      }
      await expectEcho(subscriber);
      await expectHealthy(server);
    });
  });
});
