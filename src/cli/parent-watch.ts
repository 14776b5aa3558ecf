/**
 * Parent-death detection. A launcher that dies without passing a signal on
 * (npm SIGKILLed or OOM-killed, a supervisor that crashed) leaves the server
 * running as an orphan that nothing will ever stop; measured here with npm
 * 11.19: after `kill -KILL <npm>` the server ran on under PID 1. Linux has
 * prctl(PR_SET_PDEATHSIG) for this, but Node does not expose it, so the
 * parent's pid is polled: an orphan is re-parented (to PID 1 or to a
 * subreaper), so `process.ppid` changes. An IPC channel closing (a parent that
 * forked us with one) means the same thing, at once.
 *
 * Not watched: a process started by PID 1 itself (systemd, a container's
 * entry point), which can never be orphaned.
 */

/** How often the parent's pid is checked; an orphan drains at most this late. */
export const PARENT_POLL_MS = 1000;

export interface ParentGone {
  /** The parent's pid at start. */
  parent: number;
  /** The pid we were re-parented to (undefined when the IPC channel closed). */
  adoptedBy?: number | undefined;
  how: 'reparented' | 'ipc-closed';
}

/** Calls `onGone` once when the parent process is gone; returns a function that stops watching. */
export function watchParent(onGone: (gone: ParentGone) => void, pollMs = PARENT_POLL_MS): () => void {
  const parent = process.ppid;
  let done = false;
  const fire = (gone: ParentGone): void => {
    if (done) return;
    done = true;
    stop();
    onGone(gone);
  };
  // unref'd: the watch never keeps the process alive by itself.
  const timer =
    parent > 1
      ? setInterval(() => {
          const now = process.ppid;
          if (now !== parent) fire({ parent, adoptedBy: now, how: 'reparented' });
        }, pollMs).unref()
      : undefined;
  const onDisconnect = (): void => fire({ parent, how: 'ipc-closed' });
  if (process.channel !== undefined) process.once('disconnect', onDisconnect);
  const stop = (): void => {
    clearInterval(timer);
    process.off('disconnect', onDisconnect);
  };
  return stop;
}
