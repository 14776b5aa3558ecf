/**
 * The shard's uWS app: plain (App) or TLS (SSLApp), wss:// and https:// on the
 * same port. The files were checked by src/tls-files.ts when the config was
 * resolved; uWS reads them itself here, so a certificate replaced on disk is
 * served by the next shard a SIGHUP roll starts, and the running one keeps its own.
 *
 * SNI: uWS keeps one router per server name (addServerName), and a connection
 * whose SNI names one is routed there only, so the routes are registered once
 * for the default certificate and once more for each name (after domain(name)).
 * Default routes first: domain() has no way back to the default router except
 * an unknown name. uWS prints "finding <name>" and "Browsed to SNI: <name>" on
 * stdout at each domain() call (two plain lines per name at a shard's start).
 */
import type { ResolvedTls } from '../tls-files.js';
import { readPassphrase } from '../tls-files.js';
import type { UWS } from './uws.js';

export function createApp(uws: typeof UWS, tls: ResolvedTls | null, register: (app: UWS.TemplatedApp) => void): UWS.TemplatedApp {
  if (tls === null) {
    const app = uws.App();
    register(app);
    return app;
  }
  const passphrase = tls.passphraseFile === null ? {} : { passphrase: readPassphrase(tls.passphraseFile) };
  const app = uws.SSLApp({
    cert_file_name: tls.certFile,
    key_file_name: tls.keyFile,
    ...(tls.caFile === null ? {} : { ca_file_name: tls.caFile }),
    ...passphrase,
  });
  register(app);
  for (const s of tls.serverNames) {
    app.addServerName(s.name, { cert_file_name: s.certFile, key_file_name: s.keyFile, ...passphrase });
    app.domain(s.name);
    register(app);
  }
  return app;
}
