/**
 * The HTTP publish API for backend services, on its own listener (api.port,
 * off unless configured), served by the primary thread:
 *
 *   POST /api/publish   Authorization: Bearer <one of api.keys>
 *   {"topic": "t", "data": <any JSON>, "key": "<optional idempotency key>"}
 *   -> 200 {"ok":true}  (+ "offset","epoch" on a history topic, "duplicate":true on a repeated key)
 *
 * Bad input gets a 4xx with a JSON error code and publishes nothing; a broker
 * outage a 503 with a retryable code. No stack trace ever reaches a caller.
 */
import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { ApiConfig } from '../config-fleet.js';
import { TOPIC_RULE, isValidTopic } from '../broker/topic.js';
import type { PublishResult } from '../broker/broker.js';
import { ErrorCode, toWire } from '../errors.js';

const MAX_BODY_BYTES = 1024 * 1024;

export type ApiPublish = (topic: string, data: string, key: string | undefined) => Promise<PublishResult>;

function reply(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), connection: 'close' });
  res.end(text);
}

function fail(res: ServerResponse, status: number, code: string, message: string, retryable = false): void {
  reply(res, status, { error: { code, message, retryable } });
}

function authorized(header: string | undefined, keys: readonly Buffer[]): boolean {
  const m = /^Bearer (.+)$/.exec(header ?? '');
  if (m === null) return false;
  const given = Buffer.from(m[1] as string);
  let ok = false;
  for (const k of keys) if (k.length === given.length && timingSafeEqual(k, given)) ok = true;
  return ok;
}

async function readBody(req: IncomingMessage): Promise<string | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) return null;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export async function startApi(config: ApiConfig, publish: ApiPublish): Promise<{ server: Server; port: number }> {
  const keys = config.keys.map((k) => Buffer.from(k));
  const server = createServer((req, res) => {
    void handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) fail(res, 500, 'SHARDLINE_INTERNAL', `internal error (${toWire(err).code})`);
    });
  });
  server.keepAliveTimeout = 0;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/api/publish') return fail(res, 404, 'SHARDLINE_NOT_FOUND', 'not found');
    if (req.method !== 'POST') return fail(res, 405, 'SHARDLINE_METHOD_NOT_ALLOWED', 'use POST');
    if (!authorized(req.headers.authorization, keys)) return fail(res, 401, ErrorCode.API_UNAUTHORIZED, 'a valid Authorization: Bearer <key> is required');
    const text = await readBody(req);
    if (text === null) return fail(res, 413, ErrorCode.BAD_COMMAND, `the body is larger than ${MAX_BODY_BYTES} bytes`);
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      return fail(res, 400, ErrorCode.BAD_COMMAND, 'the body is not JSON');
    }
    if (body === null || typeof body !== 'object' || Array.isArray(body)) return fail(res, 400, ErrorCode.BAD_COMMAND, 'the body must be a JSON object');
    const { topic, data, key } = body as { topic?: unknown; data?: unknown; key?: unknown };
    if (!isValidTopic(topic)) return fail(res, 400, ErrorCode.TOPIC_INVALID, TOPIC_RULE);
    if (!('data' in (body as object))) return fail(res, 400, ErrorCode.BAD_COMMAND, 'data is required');
    if (key !== undefined && (typeof key !== 'string' || key.length === 0 || key.length > 128)) {
      return fail(res, 400, ErrorCode.BAD_COMMAND, 'key must be a string of 1 to 128 characters');
    }
    let result: PublishResult;
    try {
      result = await publish(topic, JSON.stringify(data), key as string | undefined);
    } catch (err) {
      const wire = toWire(err);
      return fail(res, wire.retryable === true ? 503 : 500, wire.code, wire.message, wire.retryable ?? false);
    }
    reply(res, 200, {
      ok: true,
      ...(result.position !== undefined ? { offset: result.position.offset, epoch: result.position.epoch } : {}),
      ...(result.duplicate ? { duplicate: true } : {}),
    });
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  });
  const address = server.address();
  return { server, port: typeof address === 'object' && address !== null ? address.port : config.port };
}
