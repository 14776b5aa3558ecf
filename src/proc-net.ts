/**
 * What the kernel knows about this process's sockets on the server's port,
 * read from /proc (Linux).
 *
 * holdsConnections: when may a drained shard thread end itself? Normally it
 * never has to: once its listen socket and sockets are closed the thread's
 * event loop empties and it exits by itself. But an app handle (a metrics
 * setInterval, a database client) keeps the loop alive, and the thread must
 * then be ended from inside, which is safe only once uWS holds no socket any
 * more: ending a thread while uWS still has one aborts the process. uWS offers
 * no count of its sockets, and an ended socket lingers until the peer's FIN
 * (or uWS's close-handshake timeout, 4 to 16 s), so the kernel is asked: does
 * this process still hold a descriptor for a TCP connection on the server's
 * port? (Conservative: other shards' connections count too.)
 *
 * foreignListeners: uSockets binds with SO_REUSEPORT, so a second process
 * (another shardline started by mistake, or the next one of an overlapping
 * restart) can listen on the same port without any error, and the kernel
 * then splits new connections between the two. The primary says so.
 */
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';

const LISTEN = '0A';

/** Inodes of TCP sockets on local port `port`: listening ones, or connections. */
function socketInodes(port: number, listening: boolean): Set<string> {
  const inodes = new Set<string>();
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  for (const table of ['/proc/self/net/tcp', '/proc/self/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      const local = f[1];
      const state = f[3];
      const inode = f[9];
      if (local === undefined || inode === undefined || inode === '0' || (state === LISTEN) !== listening) continue;
      if (local.endsWith(`:${hexPort}`)) inodes.add(inode);
    }
  }
  return inodes;
}

/** Calls `found` with the inode of each socket this process holds a descriptor for; stops when it returns true. */
function someOwnSocket(found: (inode: string) => boolean): boolean {
  for (const fd of readdirSync('/proc/self/fd')) {
    let target: string;
    try {
      target = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue; // closed meanwhile
    }
    if (target.startsWith('socket:[') && found(target.slice(8, -1))) return true;
  }
  return false;
}

/** True while this process holds a file descriptor for a TCP connection on `port`. */
export function holdsConnections(port: number): boolean {
  const inodes = socketInodes(port, false);
  return inodes.size > 0 && someOwnSocket((inode) => inodes.has(inode));
}

/** Listening sockets on `port` (in this network namespace) that belong to other processes. */
export function foreignListeners(port: number): number {
  const inodes = socketInodes(port, true);
  someOwnSocket((inode) => (inodes.delete(inode), false));
  return inodes.size;
}
