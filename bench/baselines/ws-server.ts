/**
 * Baseline (b): `ws` on a node:http server, echo, with the usual graceful
 * close on SIGTERM: stop accepting, close every client with 1001, wait until
 * all have closed, exit. Replies still pending in a slow handler are lost
 * (the socket is no longer open when they are ready).
 *
 * GET /slow answers 200 after the handler time: the route the autocannon HTTP
 * drain check loads (shardline has no slow HTTP route). In-flight HTTP requests
 * finish: http.Server.close() waits for them, and answers sent while stopping
 * carry `connection: close` so keep-alive clients let go.
 */
import http from 'node:http';
import { WebSocket, WebSocketServer } from 'ws';
import { baselineArgs, logLine } from './args.js';

const { port, host, handlerMs } = baselineArgs(process.argv.slice(2));

let stopping = false;

const server = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/slow') {
    // While stopping, every answer closes its keep-alive socket: http.Server.close()
    // waits for those sockets, and a client that keeps sending would hold it open.
    setTimeout(() => res.writeHead(200, { 'content-type': 'text/plain', ...(stopping ? { connection: 'close' } : {}) }).end('ok'), handlerMs);
    return;
  }
  res.writeHead(404).end('not found');
});
const wss = new WebSocketServer({ server, perMessageDeflate: false, maxPayload: 64 * 1024 });

wss.on('connection', (ws) => {
  ws.on('error', () => {});
  ws.on('message', (data, isBinary) => {
    if (handlerMs === 0) {
      ws.send(data, { binary: isBinary });
      return;
    }
    setTimeout(() => {
      if (ws.readyState === WebSocket.OPEN) ws.send(data, { binary: isBinary });
    }, handlerMs);
  });
});

server.listen(port, host, () => {
  const addr = server.address();
  logLine({ msg: 'ready', port: typeof addr === 'object' && addr !== null ? addr.port : port, server: 'ws' });
});

process.on('SIGTERM', () => {
  if (stopping) return;
  stopping = true;
  logLine({ msg: 'drain' });
  const clients = [...wss.clients];
  let open = clients.length;
  let httpClosed = false;
  const done = (): void => {
    if (open === 0 && httpClosed) {
      logLine({ msg: 'stopped', exitCode: 0 });
      process.exit(0);
    }
  };
  server.close(() => {
    httpClosed = true;
    done();
  });
  wss.close();
  for (const ws of clients) {
    ws.once('close', () => {
      open--;
      done();
    });
    ws.close(1001, 'server shutting down');
  }
  // Clients that never answer the close frame: terminate them after 5 s.
  setTimeout(() => {
    for (const ws of clients) ws.terminate();
  }, 5_000).unref();
  done();
});
