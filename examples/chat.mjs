// A small chat room: every text message goes to everyone in the room, on every
// shard; "/nick NAME" renames you; "/hash TEXT" hashes TEXT in the offload pool.
// Run it: node dist/src/cli/main.js start --config examples/shardline.yaml
import { writeFile } from 'node:fs/promises';

let joined = 0;

export default {
  upgrade(req) {
    const room = new URLSearchParams(req.query).get('room') ?? 'lobby';
    return { room, nick: `guest-${Math.random().toString(36).slice(2, 7)}` };
  },
  open(conn) {
    joined++;
    conn.subscribe(conn.data.room);
    conn.publish(conn.data.room, `* ${conn.data.nick} joined`);
  },
  async message(conn, data, isBinary) {
    if (isBinary) return conn.end(1003, 'text only');
    const text = data.toString();
    if (text.startsWith('/nick ')) {
      const old = conn.data.nick;
      conn.data.nick = text.slice(6).trim().slice(0, 32) || old;
      conn.publish(conn.data.room, `* ${old} is now ${conn.data.nick}`);
    } else if (text.startsWith('/hash ')) {
      const digest = await conn.offload('sha256', text.slice(6));
      conn.send(`sha256: ${digest}`);
    } else {
      conn.publish(conn.data.room, `${conn.data.nick}: ${text}`);
    }
  },
  close(conn) {
    conn.publish(conn.data.room, `* ${conn.data.nick} left`);
  },
  async stop() {
    // Runs once per shard after its sockets are closed: flush state here.
    await writeFile(new URL('./.chat-stats.json', import.meta.url), JSON.stringify({ joined }));
  },
};
