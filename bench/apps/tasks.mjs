// Offload tasks for the benchmarks.
export function spin({ ms }) {
  const until = performance.now() + ms;
  while (performance.now() < until);
  return ms;
}

export function noop() {
  return null;
}
