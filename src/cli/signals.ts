/**
 * Every signal a process manager, a terminal or an operator sends, handled on
 * purpose (Node's default for most of them is to die at once, with no drain):
 *
 *   SIGTERM  Kubernetes, systemd, Docker stop      drain; a second signal forces
 *   SIGINT   Ctrl+C, pm2                            drain; a second signal forces
 *   SIGQUIT  nginx/Unicorn convention, Ctrl+\       drain; a second signal forces
 *   SIGUSR2  nodemon's restart signal               drain; a second signal forces
 *   SIGHUP   systemctl reload, `shardline reload`   rolling restart with the re-read config
 *            (a closed terminal also sends it: the parent watch then drains)
 *
 * Left to Node on purpose: SIGUSR1 (starts the inspector), SIGPIPE (ignored),
 * SIGTSTP/SIGCONT (job control), SIGKILL/SIGSTOP (cannot be caught).
 */
import type { Logger } from '../primary/logger.js';

/** The same signal again within this many ms is one signal delivered twice, not a second one. */
export const DUPLICATE_SIGNAL_MS = 50;

export const STOP_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGUSR2'] as const satisfies readonly NodeJS.Signals[];
export const RELOAD_SIGNAL = 'SIGHUP' satisfies NodeJS.Signals;

export interface SignalTargets {
  drain(signal: NodeJS.Signals): void;
  force(signal: NodeJS.Signals): void;
  reload(signal: NodeJS.Signals): void;
}

/**
 * Installs the handlers; returns a function that removes them.
 * First stop signal: drain. Any further stop signal: force. Except one thing:
 * Ctrl+C under `npm start` delivers SIGINT twice within a millisecond (to the
 * process group, and again from npm), which must not count as a second signal.
 * SIGHUP never stops the server: during a drain it is logged and ignored.
 */
export function handleSignals(log: Logger, targets: SignalTargets): () => void {
  let first: { signal: NodeJS.Signals; at: number } | null = null;
  const onStop = (signal: NodeJS.Signals): void => {
    const now = performance.now();
    if (first === null) {
      first = { signal, at: now };
      targets.drain(signal);
    } else if (signal === first.signal && now - first.at < DUPLICATE_SIGNAL_MS) {
      log.debug({ signal }, 'duplicate signal ignored');
    } else {
      log.warn({ signal }, 'second signal: forcing the drain');
      targets.force(signal);
    }
  };
  const onReload = (signal: NodeJS.Signals): void => {
    if (first !== null) {
      log.warn({ signal }, 'reload ignored: the server is draining');
      return;
    }
    targets.reload(signal);
  };
  for (const s of STOP_SIGNALS) process.on(s, onStop);
  process.on(RELOAD_SIGNAL, onReload);
  return () => {
    for (const s of STOP_SIGNALS) process.off(s, onStop);
    process.off(RELOAD_SIGNAL, onReload);
  };
}
