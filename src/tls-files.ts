/**
 * TLS: the `tls` config key, and the check of every file with node:crypto
 * before uWS sees it. uWS explains nothing: SSLApp with a bad file throws
 * "App construction failed", and addServerName with a missing file, a wrong
 * passphrase or a key that is not the certificate's segfaults the process
 * (exit 139, measured with this build; docs/OPS-NOTES). Here a bad file is a
 * config error (exit 2) naming the file and the key.
 *
 * The passphrase (passphraseFile, one line) applies to every key file. The
 * resolved config carries paths only, never the passphrase: the shard reads
 * the file itself (src/shard/tls.ts), so `shardline check` prints no secret.
 */
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { ErrorCode, ShardlineError } from './errors.js';

const file = z.string().min(1);
/** A DNS name or a wildcard one (*.example.com), as SNI sends it. */
const serverName = z
  .string()
  .regex(/^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/i, 'must be a host name such as chat.example.com or *.example.com');

export const tlsSchema = z.strictObject({
  certFile: file, // PEM certificate (chain: the leaf first), served by default
  keyFile: file, // PEM private key of certFile
  passphraseFile: file.optional(), // a file holding the passphrase of the (encrypted) key files
  caFile: file.optional(), // PEM CA bundle for client certificates (uWS does not require one: not mutual TLS)
  serverNames: z.array(z.strictObject({ name: serverName, certFile: file, keyFile: file })).optional(), // SNI: another certificate for these names (unique: uWS ignores a second addServerName for a name)
});

export type TlsInput = z.output<typeof tlsSchema>;

export interface ResolvedTls {
  readonly certFile: string;
  readonly keyFile: string;
  readonly passphraseFile: string | null;
  readonly caFile: string | null;
  readonly serverNames: readonly { readonly name: string; readonly certFile: string; readonly keyFile: string }[];
}

interface Where {
  /** The source to name for a key: the config file or the environment variable. */
  sourceOf: (key: string) => string;
}

class TlsFileError extends ShardlineError {
  constructor(where: Where, key: string, rule: string) {
    super(ErrorCode.CONFIG_INVALID, `${where.sourceOf(key)}: ${key}: ${rule}`);
  }
}

function read(path: string, key: string, where: Where): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new TlsFileError(where, key, `${path}: cannot read the file (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

/** The first line of an OpenSSL error, without the "error:1E08010C:DECODER routines::" noise. */
const why = (err: unknown): string => (String((err as Error).message).split('\n')[0] ?? '').replace(/^error:[0-9A-F]+:[^:]*::/, '');

function certificate(path: string, key: string, where: Where): X509Certificate {
  const pem = read(path, key, where);
  // uWS (SSL_CTX_use_certificate_chain_file) reads PEM only; X509Certificate would also take DER.
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new TlsFileError(where, key, `${path}: not a PEM certificate (no BEGIN CERTIFICATE block)`);
  try {
    return new X509Certificate(pem);
  } catch (err) {
    throw new TlsFileError(where, key, `${path}: not a valid certificate (${why(err)})`);
  }
}

function privateKey(path: string, key: string, passphrase: string | undefined, passphraseKey: string, where: Where): KeyObject {
  const pem = read(path, key, where);
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem)) throw new TlsFileError(where, key, `${path}: not a PEM private key (no BEGIN PRIVATE KEY block)`);
  const encrypted = /ENCRYPTED/.test(pem);
  if (encrypted && passphrase === undefined) throw new TlsFileError(where, key, `${path}: the key is encrypted: set tls.passphraseFile`);
  try {
    return createPrivateKey({ key: pem, format: 'pem', ...(passphrase === undefined ? {} : { passphrase }) });
  } catch (err) {
    if (encrypted) throw new TlsFileError(where, passphraseKey, `the passphrase does not decrypt ${key} ${path} (${why(err)})`);
    throw new TlsFileError(where, key, `${path}: not a valid private key (${why(err)})`);
  }
}

/** Checks a certificate and its key (readable PEM, decryptable, a pair); throws CONFIG_INVALID naming the file and key. */
function pair(certPath: string, certKey: string, keyPath: string, keyKey: string, passphrase: string | undefined, where: Where): void {
  const cert = certificate(certPath, certKey, where);
  const key = privateKey(keyPath, keyKey, passphrase, 'tls.passphraseFile', where);
  if (!cert.checkPrivateKey(key)) throw new TlsFileError(where, keyKey, `${keyPath}: is not the private key of ${certKey} ${certPath}`);
}

/** Reads a passphrase file: its first line, without the newline an editor adds. */
export function readPassphrase(path: string): string {
  return readFileSync(path, 'utf8').split(/\r?\n/)[0] ?? '';
}

/** Resolves the paths of the `tls` key and validates every file; the result is what the shards use. */
export function resolveTls(tls: TlsInput, baseOf: (key: string) => string, sourceOf: (key: string) => string): ResolvedTls {
  const where: Where = { sourceOf };
  const abs = (path: string, key: string): string => resolve(baseOf(key), path);
  const passphraseFile = tls.passphraseFile === undefined ? null : abs(tls.passphraseFile, 'tls.passphraseFile');
  let passphrase: string | undefined;
  if (passphraseFile !== null) {
    read(passphraseFile, 'tls.passphraseFile', where);
    passphrase = readPassphrase(passphraseFile);
  }
  const resolved: ResolvedTls = {
    certFile: abs(tls.certFile, 'tls.certFile'),
    keyFile: abs(tls.keyFile, 'tls.keyFile'),
    passphraseFile,
    caFile: tls.caFile === undefined ? null : abs(tls.caFile, 'tls.caFile'),
    serverNames: (tls.serverNames ?? []).map((s, i) => ({
      name: s.name.toLowerCase(),
      certFile: abs(s.certFile, `tls.serverNames.${i}.certFile`),
      keyFile: abs(s.keyFile, `tls.serverNames.${i}.keyFile`),
    })),
  };
  resolved.serverNames.forEach((s, i) => {
    if (resolved.serverNames.findIndex((o) => o.name === s.name) !== i) throw new TlsFileError(where, `tls.serverNames.${i}.name`, `${s.name} is listed twice`);
  });
  pair(resolved.certFile, 'tls.certFile', resolved.keyFile, 'tls.keyFile', passphrase, where);
  resolved.serverNames.forEach((s, i) => pair(s.certFile, `tls.serverNames.${i}.certFile`, s.keyFile, `tls.serverNames.${i}.keyFile`, passphrase, where));
  if (resolved.caFile !== null) {
    const blocks = read(resolved.caFile, 'tls.caFile', where).match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
    if (blocks.length === 0) throw new TlsFileError(where, 'tls.caFile', `${resolved.caFile}: no PEM certificate in the file`);
    for (const pem of blocks) {
      try {
        new X509Certificate(pem);
      } catch (err) {
        throw new TlsFileError(where, 'tls.caFile', `${resolved.caFile}: a certificate in the bundle is not valid (${why(err)})`);
      }
    }
  }
  return resolved;
}
