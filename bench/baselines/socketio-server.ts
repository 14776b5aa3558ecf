/**
 * Baseline for the cross-node fan-out bench (bench/fleet-fanout.ts): what
 * users pick instead of shardline for pub/sub across nodes. Socket.IO 4 on its
 * default engine (`ws` on node:http), one process per node, joined to the
 * other nodes by `@socket.io/redis-adapter` (the classic PUB/SUB adapter),
 * wired as its documentation shows for ioredis: `pubClient.duplicate()` for
 * the subscriber. (ioredis rather than node-redis: the adapter is tested with
 * ioredis 5 and node-redis 4, and shardline's own broker depends on
 * node-redis 6.)
 *
 * The same app as shardline's built-in pub/sub:
 *   emit('subscribe', topic, ack)  -> socket.join(topic); ack()
 *   emit('publish', topic, data)   -> io.to(topic).emit('pub', topic, data)  (every node)
 *
 *   node dist/bench/baselines/socketio-server.js --port 0 --redis redis://127.0.0.1:P
 * prints {"msg":"ready","port":N} on stdout; SIGTERM closes it.
 */
import { createAdapter } from '@socket.io/redis-adapter';
import { Redis } from 'ioredis';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import { Server } from 'socket.io';
import { logLine } from './args.js';

const { values } = parseArgs({
  args: process.argv.slice(2),
  strict: true,
  options: { port: { type: 'string' }, host: { type: 'string' }, redis: { type: 'string' } },
});
if (values.redis === undefined) {
  process.stderr.write('socketio-server: --redis redis://host:port is required\n');
  process.exit(2);
}

const pubClient = new Redis(values.redis);
const subClient = pubClient.duplicate();
// Without an 'error' listener an unreachable Redis crashes the process (FLEET-NOTES §5).
for (const c of [pubClient, subClient]) c.on('error', (err: Error) => logLine({ msg: 'redis error', error: err.message }));

const http = createServer((_req, res) => res.writeHead(404).end());
const io = new Server(http, { adapter: createAdapter(pubClient, subClient), serveClient: false });

io.on('connection', (socket) => {
  socket.on('subscribe', (topic: unknown, ack: unknown) => {
    if (typeof topic !== 'string') return;
    void socket.join(topic);
    if (typeof ack === 'function') (ack as () => void)();
  });
  socket.on('publish', (topic: unknown, data: unknown) => {
    if (typeof topic === 'string') io.to(topic).emit('pub', topic, data);
  });
});

http.listen(Number(values.port ?? '0'), values.host ?? '127.0.0.1', () => {
  const addr = http.address();
  logLine({ msg: 'ready', port: typeof addr === 'object' && addr !== null ? addr.port : 0, server: 'socket.io' });
});

process.on('SIGTERM', () => {
  void io.close(() => {
    pubClient.disconnect();
    subClient.disconnect();
    process.exit(0);
  });
});
