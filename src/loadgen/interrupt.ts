/**
 * Ctrl+C and SIGTERM during a run. A load generator must answer signals while
 * it is busy: the first SIGINT or SIGTERM aborts the run (the groups stop
 * sending and close every connection with 1000; the command prints what ran,
 * marked partial, and exits 128 + the signal number); a second one exits at
 * once with that status. As in `shardline start`, the same signal again within
 * DUPLICATE_SIGNAL_MS is one Ctrl+C delivered twice (to the process group and
 * again by npm), not a second one.
 */
import { constants } from 'node:os';

const DUPLICATE_SIGNAL_MS = 50;

export interface Interrupt {
  signal: AbortSignal;
  /** The first signal received, or null. */
  readonly received: NodeJS.Signals | null;
  /** 128 + signal number, for the exit. */
  exitCode(): number;
  dispose(): void;
}

export function onInterrupt(onFirst: (sig: NodeJS.Signals) => void): Interrupt {
  const controller = new AbortController();
  let first: { sig: NodeJS.Signals; at: number } | null = null;
  const handler = (sig: NodeJS.Signals): void => {
    const now = performance.now();
    if (first === null) {
      first = { sig, at: now };
      onFirst(sig);
      controller.abort();
    } else if (sig !== first.sig || now - first.at >= DUPLICATE_SIGNAL_MS) {
      process.stderr.write(`shardline bench: second ${sig}: exiting now\n`);
      process.exit(128 + (constants.signals[sig] ?? 0));
    }
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    signal: controller.signal,
    get received() {
      return first?.sig ?? null;
    },
    exitCode: () => 128 + (first === null ? 0 : (constants.signals[first.sig] ?? 0)),
    dispose() {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    },
  };
}
