/** autocannon-style boxed tables for the human-readable output (never in --json). */

export function table(head: string[], rows: (string | number)[][]): string {
  const cells = [head, ...rows.map((r) => r.map(String))];
  const widths = head.map((_, c) => Math.max(...cells.map((r) => (r[c] ?? '').length)));
  const line = (l: string, m: string, r: string): string => l + widths.map((w) => '─'.repeat(w + 2)).join(m) + r;
  const row = (r: string[]): string => '│' + r.map((v, c) => ` ${c === 0 ? v.padEnd(widths[c] ?? 0) : v.padStart(widths[c] ?? 0)} `).join('│') + '│';
  return [line('┌', '┬', '┐'), row(head), line('├', '┼', '┤'), ...cells.slice(1).map(row), line('└', '┴', '┘')].join('\n');
}

export const fmtMs = (v: number | null | undefined): string => (v === null || v === undefined ? '-' : `${v} ms`);
