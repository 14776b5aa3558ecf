/**
 * TLS: wss:// and https:// on one port with certificates made by openssl in
 * the test, SNI with two names, and every bad file (missing, not PEM, a key
 * that is not the certificate's, a wrong or missing passphrase) exits 2
 * naming the file and the key before uWS sees it (uWS would say "App
 * construction failed", or segfault in addServerName).
 */
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { get } from 'node:https';
import { connect as tlsConnect } from 'node:tls';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { runCli, startServer, tempFile, configFile } from './helpers/server.js';

/** A self-signed certificate for `name` (EC P-256); the key encrypted with `passphrase` if given. */
function selfSigned(name: string, passphrase?: string): { cert: string; key: string; pem: string } {
  const key = tempFile(`${name}.key`, '');
  const cert = key.replace(/\.key$/, '.crt');
  if (passphrase === undefined) {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        key,
        '-out',
        cert,
        '-days',
        '2',
        '-subj',
        `/CN=${name}`,
        '-addext',
        `subjectAltName=DNS:${name}`,
      ],
      { stdio: 'pipe' },
    );
  } else {
    execFileSync(
      'openssl',
      ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-aes-256-cbc', '-pass', `pass:${passphrase}`, '-out', key],
      { stdio: 'pipe' },
    );
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-key',
        key,
        '-passin',
        `pass:${passphrase}`,
        '-out',
        cert,
        '-days',
        '2',
        '-subj',
        `/CN=${name}`,
        '-addext',
        `subjectAltName=DNS:${name}`,
      ],
      { stdio: 'pipe' },
    );
  }
  return { cert, key, pem: readFileSync(cert, 'utf8') };
}

/** GET over https, verifying the server's certificate against `ca` for `servername`. */
function httpsGet(port: number, path: string, ca: string, servername: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port, path, ca, servername, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
  });
}

/** A wss:// client verifying the certificate; resolves with the reply to one message. */
async function wssEcho(port: number, ca: string, servername: string, text: string): Promise<string> {
  // ws hands its options to tls.connect, servername included (its types omit it).
  const options: WebSocket.ClientOptions & { servername: string } = { ca, servername };
  const ws = new WebSocket(`wss://127.0.0.1:${port}/`, options);
  try {
    await once(ws, 'open');
    ws.send(text);
    const [data] = (await once(ws, 'message')) as [Buffer];
    return data.toString();
  } finally {
    ws.terminate();
  }
}

/** The CN of the certificate the server presents for an SNI name (undefined: no SNI sent). */
async function presented(port: number, servername: string | undefined): Promise<string> {
  const socket = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...(servername === undefined ? {} : { servername }) });
  try {
    await once(socket, 'secureConnect');
    return String(socket.getPeerCertificate().subject.CN);
  } finally {
    socket.destroy();
  }
}

async function startFails(tls: Record<string, unknown>): Promise<string> {
  const file = configFile({ tls });
  const p = await runCli(['start', '--config', file, '--port', '0', '--shards', '1'], { waitReady: false });
  expect((await p.exited).code).toBe(2);
  expect(p.stderr()).not.toMatch(/\n\s+at |App construction failed/);
  return p.stderr();
}

describe('TLS', () => {
  it('serves wss:// and https:// /healthz on one port; plain ws:// is refused', async () => {
    const a = selfSigned('a.test');
    const server = await startServer(['--config', configFile({ tls: { certFile: a.cert, keyFile: a.key } }), '--shards', '2']);
    expect(await httpsGet(server.port, '/healthz', a.pem, 'a.test')).toMatchObject({ status: 200 });
    expect(await wssEcho(server.port, a.pem, 'a.test', 'over tls')).toBe('over tls');
    const plain = new WebSocket(`ws://127.0.0.1:${server.port}/`);
    const [err] = (await once(plain, 'error').catch((e: unknown) => [e])) as [Error];
    expect(err).toBeInstanceOf(Error);
    server.signal('SIGTERM');
    expect((await server.exited).code).toBe(0);
  });

  it('SNI: each of two names gets its own certificate and the same routes; others get the default', async () => {
    const [a, b, c] = [selfSigned('a.test'), selfSigned('b.test'), selfSigned('c.test')];
    const tls = {
      certFile: a.cert,
      keyFile: a.key,
      serverNames: [
        { name: 'b.test', certFile: b.cert, keyFile: b.key },
        { name: 'c.test', certFile: c.cert, keyFile: c.key },
      ],
    };
    const server = await startServer(['--config', configFile({ tls }), '--shards', '1']);
    expect(await presented(server.port, 'b.test')).toBe('b.test');
    expect(await presented(server.port, 'c.test')).toBe('c.test');
    expect(await presented(server.port, 'other.test')).toBe('a.test');
    expect(await presented(server.port, undefined)).toBe('a.test');
    // Verified against each name's own certificate, so the right one was served, and routed.
    expect(await httpsGet(server.port, '/healthz', b.pem, 'b.test')).toMatchObject({ status: 200 });
    expect(await wssEcho(server.port, c.pem, 'c.test', 'via c')).toBe('via c');
    expect(await wssEcho(server.port, a.pem, 'a.test', 'via a')).toBe('via a');
    server.signal('SIGTERM');
    expect((await server.exited).code).toBe(0);
  });

  it('reads an encrypted key with passphraseFile', async () => {
    const e = selfSigned('enc.test', 'sesame');
    const pass = tempFile('pass', 'sesame\n');
    const server = await startServer(['--config', configFile({ tls: { certFile: e.cert, keyFile: e.key, passphraseFile: pass } }), '--shards', '1']);
    expect(await httpsGet(server.port, '/healthz', e.pem, 'enc.test')).toMatchObject({ status: 200 });
    server.signal('SIGTERM');
    expect((await server.exited).code).toBe(0);
  });

  it('exits 2 naming the file and the key for a bad certificate, key or passphrase', { timeout: 120_000 }, async () => {
    const a = selfSigned('a.test');
    const b = selfSigned('b.test');
    const e = selfSigned('enc.test', 'sesame');
    const garbage = tempFile('garbage.pem', '-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n');
    const der = tempFile('cert.der', '');
    execFileSync('openssl', ['x509', '-in', a.cert, '-outform', 'DER', '-out', der]);
    const wrong = tempFile('wrong-pass', 'open sesame\n');
    const missing = `${a.cert}.missing`;

    // The cases where uWS's addServerName segfaults (exit 139) are among them: caught here first.
    const sni = (s: Record<string, string>): Record<string, unknown> => ({
      certFile: a.cert,
      keyFile: a.key,
      serverNames: [
        { name: 'b.test', certFile: b.cert, keyFile: b.key },
        { name: 'c.test', ...s },
      ],
    });
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ certFile: missing, keyFile: a.key }, new RegExp(`^shardline: \\S+shardline\\.json: tls\\.certFile: ${missing}: cannot read the file \\(ENOENT\\)`)],
      [{ certFile: garbage, keyFile: a.key }, new RegExp(`tls\\.certFile: ${garbage}: not a valid certificate`)],
      [{ certFile: der, keyFile: a.key }, new RegExp(`tls\\.certFile: ${der}: not a PEM certificate`)],
      [{ certFile: a.cert, keyFile: a.cert }, new RegExp(`tls\\.keyFile: ${a.cert}: not a PEM private key`)],
      [{ certFile: a.cert, keyFile: b.key }, new RegExp(`tls\\.keyFile: ${b.key}: is not the private key of tls\\.certFile ${a.cert}`)],
      [{ certFile: e.cert, keyFile: e.key }, new RegExp(`tls\\.keyFile: ${e.key}: the key is encrypted: set tls\\.passphraseFile`)],
      [{ certFile: e.cert, keyFile: e.key, passphraseFile: wrong }, /tls\.passphraseFile: the passphrase does not decrypt tls\.keyFile/],
      [sni({ certFile: b.cert, keyFile: a.key }), new RegExp(`tls\\.serverNames\\.1\\.keyFile: ${a.key}: is not the private key`)],
      [sni({ certFile: missing, keyFile: a.key }), /tls\.serverNames\.1\.certFile: .*cannot read the file/],
      [
        {
          ...sni({}),
          serverNames: [
            { name: 'b.test', certFile: b.cert, keyFile: b.key },
            { name: 'B.test', certFile: b.cert, keyFile: b.key },
          ],
        },
        /tls\.serverNames\.1\.name: b\.test is listed twice/,
      ],
      [{ certFile: a.cert, keyFile: a.key, caFile: a.key }, /tls\.caFile: .*no PEM certificate/],
    ];
    // Each is a real `shardline start` exiting 2; run side by side (a busy machine makes each start slow).
    const stderrs = await Promise.all(cases.map(([tls]) => startFails(tls)));
    stderrs.forEach((stderr, i) => expect(stderr).toMatch(cases[i]![1]));
  });

  it('names the environment variable when the bad path came from it', async () => {
    const a = selfSigned('a.test');
    const file = configFile({ tls: { certFile: a.cert, keyFile: a.key } });
    writeFileSync(`${a.key}.bad`, 'nope');
    const p = await runCli(['check', '--config', file], { waitReady: false, env: { SHARDLINE_TLS_KEY_FILE: `${a.key}.bad` } });
    expect((await p.exited).code).toBe(2);
    expect(p.stderr()).toMatch(/^shardline: environment SHARDLINE_TLS_KEY_FILE: tls\.keyFile: .*not a PEM private key/);
  });
});
