/**
 * The built-in app, served when no `app` is configured: protocol v1
 * (src/wire/v1.ts, docs/PROTOCOL.md) over an echo server.
 *
 * Every message that is not a command is echoed back as it came. A command
 * without an `id` is acted on and then echoed (the echo confirms it), as
 * before protocol v1; a command with an `id` gets a reply instead.
 */
import { defineApp, type Connection, type SubscribeResult } from './app.js';
import { FLEET_DEFAULTS } from './config-fleet.js';
import { SUBPROTOCOL, badCommand, errorFrame, helloFrame, okFrame, parseCommand, publicationFrame, resyncFrame, type Command } from './wire/v1.js';

function subscribeReply(id: number, r: SubscribeResult): string {
  if (!r.ok) return errorFrame(id, r.error);
  const fields: Record<string, unknown> = {};
  if (r.recovered !== undefined) fields.recovered = r.recovered;
  if (r.position !== undefined) {
    fields.offset = r.position.offset;
    fields.epoch = r.position.epoch;
  }
  return okFrame(id, fields);
}

async function answer(conn: Connection, cmd: Command & { id: number }): Promise<string> {
  switch (cmd.kind) {
    case 'subscribe':
      return subscribeReply(cmd.id, await conn.subscribe(cmd.topic, { since: cmd.since }));
    case 'unsubscribe':
      conn.unsubscribe(cmd.topic);
      return okFrame(cmd.id);
    case 'publish': {
      const r = await conn.publish(cmd.topic, cmd.data, false, { key: cmd.key });
      if (!r.ok) return errorFrame(cmd.id, r.error);
      return okFrame(cmd.id, r.position === undefined ? {} : { offset: r.position.offset, epoch: r.position.epoch });
    }
    case 'ping':
      return okFrame(cmd.id);
    case 'bad':
      return errorFrame(cmd.id, badCommand(cmd.message));
  }
}

/** A command without an id: act on it (fire and forget), then echo. */
function act(conn: Connection, cmd: Command): void {
  if (cmd.kind === 'subscribe') void conn.subscribe(cmd.topic, { since: cmd.since });
  else if (cmd.kind === 'unsubscribe') conn.unsubscribe(cmd.topic);
  else if (cmd.kind === 'publish') void conn.publish(cmd.topic, cmd.data, false, { key: cmd.key });
}

export default defineApp({
  open(conn) {
    if (conn.protocol !== SUBPROTOCOL) return;
    conn.send(
      helloFrame({
        node: conn.node,
        pingSec: FLEET_DEFAULTS.pingSec,
        maxPayloadBytes: conn.limits.maxPayloadBytes,
        maxMessagesPerSecond: conn.limits.maxMessagesPerSecond,
        idempotencySec: FLEET_DEFAULTS.idempotencySec,
      }),
    );
  },
  async message(conn, data, isBinary) {
    const cmd = isBinary ? null : parseCommand(data);
    if (cmd === null) {
      conn.send(data, isBinary);
      return;
    }
    if (cmd.id === undefined) {
      act(conn, cmd);
      conn.send(data, isBinary);
      return;
    }
    conn.send(await answer(conn, cmd as Command & { id: number }));
  },
  frame: publicationFrame,
  resync(conn, topic) {
    conn.send(resyncFrame(topic));
  },
});
