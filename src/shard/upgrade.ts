/**
 * An HTTP upgrade, from the gate to `res.upgrade()`: shardline's own checks
 * (http.ts `checkUpgrade`), then the app's `upgrade` hook, sync or async.
 * An async hook counts as in flight (the drain waits for it), and its answer
 * is corked; a client that went away meanwhile is not answered.
 */
import type { App } from '../app.js';
import type { LogLevel } from '../protocol.js';
import type { UserData } from './connection.js';
import { errorFields, isThenable, type HookRunner } from './hooks.js';
import { checkUpgrade, copyRequest, reject as answer, Rejections, type GateState, type Rejection } from './http.js';
import type { ShardMeter } from '../metrics/shard-meter.js';
import type { UWS } from './uws.js';
import { SUBPROTOCOL } from '../wire/v1.js';

export interface UpgradeHost {
  readonly hooks: HookRunner;
  readonly meter: ShardMeter;
  /** Read at the gate and again when an async hook answers. */
  readonly draining: boolean;
  gate(): GateState;
  log(level: LogLevel, msg: string, fields?: Record<string, unknown>): void;
}

/** Protocol v1 of the built-in app, when offered; otherwise the first one offered (RFC 6455 4.2.2: the server picks one). */
export function selectProtocol(header: string): string {
  if (header === '') return '';
  const offered = header.split(',').map((p) => p.trim());
  return offered.includes(SUBPROTOCOL) ? SUBPROTOCOL : (offered[0] ?? '');
}

const REJECTION_NAMES = new Map(Object.entries(Rejections).map(([name, r]) => [r as Rejection, name as keyof typeof Rejections]));

export function handleUpgrade(host: UpgradeHost, app: App, res: UWS.HttpResponse, req: UWS.HttpRequest, context: UWS.us_socket_context_t): void {
  // Every refusal is counted by reason (shardline_upgrades_rejected_total).
  const reject = (r: UWS.HttpResponse, rejection: Rejection): void => {
    const name = REJECTION_NAMES.get(rejection);
    if (name !== undefined) host.meter.rejected(name);
    answer(r, rejection);
  };
  const rejection = checkUpgrade(req, host.gate());
  if (rejection !== null) return reject(res, rejection);
  const key = req.getHeader('sec-websocket-key');
  const protocol = selectProtocol(req.getHeader('sec-websocket-protocol'));
  const extensions = req.getHeader('sec-websocket-extensions');
  const hook = app.upgrade;
  if (hook === undefined) {
    res.upgrade<UserData>({ data: undefined, conn: null, protocol }, key, protocol, extensions, context);
    return;
  }
  const request = copyRequest(req, res);
  const t0 = host.meter.sample() ? performance.now() : -1; // one upgrade in sampleEvery is timed
  const finish = (result: unknown): void => {
    if (t0 >= 0) host.meter.observeHook('upgrade', (performance.now() - t0) / 1000);
    if (host.draining) reject(res, Rejections.draining);
    else if (result === false) reject(res, Rejections.unauthorized);
    else res.upgrade<UserData>({ data: result, conn: null, protocol }, key, protocol, extensions, context);
  };
  const failed = (err: unknown): void => {
    host.log('error', 'upgrade hook failed', errorFields(err));
    host.meter.hookFailed('upgrade');
    reject(res, Rejections.internal);
  };
  let result: unknown;
  try {
    result = hook(request);
  } catch (err) {
    failed(err);
    return;
  }
  if (!isThenable(result)) {
    finish(result);
    return;
  }
  // Async upgrade: the response must be watched for abort and corked when we answer.
  let aborted = false;
  res.onAborted(() => {
    aborted = true;
  });
  host.hooks.track(null);
  result.then(
    (value) => {
      if (!aborted) res.cork(() => finish(value));
      host.hooks.done(null, 'hook');
    },
    (err: unknown) => {
      if (!aborted) res.cork(() => failed(err));
      host.hooks.done(null, 'hook');
    },
  );
}
