/**
 * A one-line progress bar on stderr, only when stderr is a terminal (never in
 * --json output or a pipe). It shows the phase and elapsed time; during the
 * message phase of a timed load, a bar of the duration and the last second's
 * figures (messages/s, p99, connections open, late sends, client loop).
 */
export interface Progress {
  phase(name: string, durationMs?: number): void;
  /** The live figures shown after the bar (the last second's rate, p99, ...). */
  detail(text: string): void;
  done(): void;
}

const WIDTH = 30;

export function progress(enabled: boolean = process.stderr.isTTY === true): Progress {
  if (!enabled) return { phase: () => {}, detail: () => {}, done: () => {} };
  let name = '';
  let started = performance.now();
  let length = 0;
  let extra = '';
  const draw = (): void => {
    const elapsed = performance.now() - started;
    let line = `${name} ${(elapsed / 1000).toFixed(1)} s`;
    if (length > 0) {
      const filled = Math.min(WIDTH, Math.round((elapsed / length) * WIDTH));
      line = `${name} [${'#'.repeat(filled)}${'-'.repeat(WIDTH - filled)}] ${(elapsed / 1000).toFixed(1)}/${(length / 1000).toFixed(1)} s`;
    }
    process.stderr.write(`\r${line}${extra === '' ? '' : `  ${extra}`}\u001b[K`);
  };
  const timer = setInterval(draw, 200);
  timer.unref();
  return {
    phase(next, durationMs = 0) {
      name = next;
      length = durationMs;
      extra = '';
      started = performance.now();
      draw();
    },
    detail(text) {
      extra = text;
      draw();
    },
    done() {
      clearInterval(timer);
      process.stderr.write('\r\u001b[K');
    },
  };
}
