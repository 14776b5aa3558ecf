/**
 * Opens a group's connections at a bounded rate (`ratePerSec` attempts a
 * second, at most `maxPending` handshakes at once), binding each to its source
 * address from the plan. `stop()` ends the opening early (an interrupt).
 */
import WebSocket from 'ws';
import { bump, epochNow, type GroupSpec, type OpenReport } from './protocol.js';

/** Pacing tick for opening connections. */
const OPEN_TICK_MS = 10;

export function errorKey(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown };
  return typeof e.code === 'string' ? e.code : String(e.message ?? err);
}

export class Connector {
  private stopped = false;

  constructor(
    private readonly spec: GroupSpec,
    private readonly errors: Record<string, number>,
  ) {}

  stop(): void {
    this.stopped = true;
  }

  /**
   * Opens every connection; `onOpen` runs synchronously in the 'open' event
   * (so message handlers are in place before any frame is read), `onClose`
   * for every opened connection that closes later.
   */
  openAll(onOpen: (ws: WebSocket) => void, onClose: (ws: WebSocket, code: number) => void): Promise<OpenReport> {
    const { connections, ratePerSec, maxPending, localAddresses } = this.spec;
    const startedAt = epochNow();
    let started = 0;
    let pending = 0;
    let opened = 0;
    let lastOpenAt = startedAt;
    return new Promise((resolve) => {
      const settle = (): void => {
        if ((started === connections || this.stopped) && pending === 0) {
          clearInterval(timer);
          resolve({ opened, failed: connections - opened, errors: { ...this.errors }, startedAt, lastOpenAt });
        }
      };
      const tick = (): void => {
        // Attempts due by now at ratePerSec (the first at once): exact at low rates too.
        const due = Math.min(connections, Math.floor(((epochNow() - startedAt) * ratePerSec) / 1000) + 1);
        while (!this.stopped && started < due && pending < maxPending) {
          const localAddress = localAddresses.length > 0 ? localAddresses[started % localAddresses.length] : undefined;
          started++;
          pending++;
          const ws = new WebSocket(this.spec.url, {
            perMessageDeflate: false,
            handshakeTimeout: this.spec.connectTimeoutMs,
            ...(localAddress !== undefined ? { localAddress } : {}),
          });
          ws.binaryType = 'nodebuffer';
          let isOpen = false;
          ws.on('error', (err) => bump(this.errors, errorKey(err)));
          ws.on('open', () => {
            isOpen = true;
            opened++;
            pending--;
            lastOpenAt = epochNow();
            onOpen(ws);
            settle();
          });
          ws.on('close', (code) => {
            if (isOpen) return onClose(ws, code);
            pending--;
            settle();
          });
        }
        settle();
      };
      const timer = setInterval(tick, OPEN_TICK_MS);
      tick();
    });
  }
}

/** Closes every socket with `code` and resolves when all are closed, or after timeoutMs (the rest are terminated). */
export async function closeAll(sockets: WebSocket[], code: number, timeoutMs: number): Promise<void> {
  const waits: Promise<void>[] = [];
  for (const ws of sockets) {
    if (ws.readyState === WebSocket.CLOSED) continue;
    waits.push(new Promise((resolve) => ws.once('close', () => resolve())));
    if (ws.readyState === WebSocket.OPEN) ws.close(code);
  }
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([Promise.all(waits), new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
  clearTimeout(timer);
  for (const ws of sockets) if (ws.readyState !== WebSocket.CLOSED) ws.terminate();
}
