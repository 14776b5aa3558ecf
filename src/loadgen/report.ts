/**
 * `--report FILE` of `bench load`: the latency over time (per second of the
 * measured window: p50, p99, max, and messages/s) and the percentile spectrum
 * of the whole run, as hand-written SVG (FILE.svg) or an HTML page holding
 * both charts and the summary (any other name). No dependency, plain strings.
 */
import { writeFileSync } from 'node:fs';
import type { LoadResult, ProgressLine } from './load.js';

const W = 640;
const H = 280;
const M = { top: 30, right: 70, bottom: 40, left: 64 };
const COLORS = ['#1f77b4', '#d62728', '#7f7f7f', '#2ca02c'];

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

interface Line {
  name: string;
  points: [number, number][];
  /** Drawn against the right-hand axis. */
  right?: boolean;
}

/** One chart at vertical offset y0: x from xs (labels from xLabel), left axis in ms, optional right axis. */
function chart(title: string, y0: number, lines: Line[], xLabel: (x: number) => string, xs: number[], leftLabel: string, rightLabel = ''): string {
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const xMin = Math.min(...xs);
  const xMax = Math.max(...xs, xMin + 1);
  const leftMax = niceMax(Math.max(0, ...lines.filter((l) => !l.right).flatMap((l) => l.points.map((p) => p[1]))));
  const rightMax = niceMax(Math.max(0, ...lines.filter((l) => l.right).flatMap((l) => l.points.map((p) => p[1]))));
  const px = (x: number): number => M.left + ((x - xMin) / (xMax - xMin)) * pw;
  const py = (v: number, right: boolean): number => y0 + M.top + ph - (v / (right ? rightMax : leftMax)) * ph;
  const out: string[] = [`<text x="${W / 2}" y="${y0 + 18}" text-anchor="middle" font-weight="bold">${esc(title)}</text>`];
  for (let i = 0; i <= 4; i++) {
    const y = y0 + M.top + ph - (ph * i) / 4;
    out.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${y}" y2="${y}" stroke="#ddd"/>`);
    out.push(`<text x="${M.left - 6}" y="${y + 4}" text-anchor="end">${+((leftMax * i) / 4).toFixed(2)}</text>`);
    if (rightLabel !== '') out.push(`<text x="${W - M.right + 6}" y="${y + 4}">${Math.round((rightMax * i) / 4)}</text>`);
  }
  out.push(`<text transform="translate(14,${y0 + M.top + ph / 2}) rotate(-90)" text-anchor="middle">${esc(leftLabel)}</text>`);
  if (rightLabel !== '') out.push(`<text transform="translate(${W - 8},${y0 + M.top + ph / 2}) rotate(90)" text-anchor="middle">${esc(rightLabel)}</text>`);
  for (const x of xs) out.push(`<text x="${px(x)}" y="${y0 + H - M.bottom + 16}" text-anchor="middle">${esc(xLabel(x))}</text>`);
  lines.forEach((l, i) => {
    const color = COLORS[i % COLORS.length] ?? '#000';
    const d = l.points.map(([x, v], k) => `${k === 0 ? 'M' : 'L'}${px(x).toFixed(1)},${py(v, l.right === true).toFixed(1)}`).join(' ');
    out.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="2"${l.right === true ? ' stroke-dasharray="4 3"' : ''}/>`);
    out.push(`<text x="${M.left + 8 + i * 110}" y="${y0 + H - 6}" fill="${color}">${esc(l.name)}</text>`);
  });
  return out.join('\n');
}

/** Both charts in one SVG document. */
export function renderSvg(r: LoadResult, ticks: ProgressLine[]): string {
  const seconds = ticks.map((t) => t.second);
  const overTime = chart(
    `latency per second (${r.mode} model${r.mode === 'open' ? `, ${r.options.rate} msg/s` : ''})`,
    0,
    [
      { name: 'p50 ms', points: ticks.map((t) => [t.second, t.p50]) },
      { name: 'p99 ms', points: ticks.map((t) => [t.second, t.p99]) },
      { name: 'max ms', points: ticks.map((t) => [t.second, t.max]) },
      { name: 'msg/s (right)', points: ticks.map((t) => [t.second, t.received]), right: true },
    ],
    (x) => `${x} s`,
    seconds.length > 0 ? seconds : [0, 1],
    'ms',
    'answered per second',
  );
  // Spectrum: x is the number of nines, so 50 %, 90 %, 99 %, 99.9 % ... are evenly spaced.
  const nines = (p: number): number => (p >= 100 ? 6 : -Math.log10(1 - p / 100));
  const pts = r.latency.percentiles.map((p) => [nines(p.percentile), p.ms] as [number, number]);
  const spectrum = chart(
    `latency percentile spectrum (${r.latency.count} samples)`,
    H,
    [{ name: 'latency ms', points: pts }],
    (x) => {
      const p = r.latency.percentiles.find((q) => Math.abs(nines(q.percentile) - x) < 1e-9);
      return p === undefined ? '' : p.percentile === 100 ? 'max' : `${p.percentile}%`;
    },
    pts.map((p) => p[0]),
    'ms',
  );
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${2 * H}" font-family="sans-serif" font-size="11">\n<rect width="100%" height="100%" fill="#fff"/>\n${overTime}\n${spectrum}\n</svg>\n`;
}

export function renderHtml(r: LoadResult, ticks: ProgressLine[], summary: string): string {
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>shardline bench load: ${esc(r.url)}</title>
<style>body{font-family:sans-serif;margin:2em}pre{background:#f6f6f6;padding:1em;overflow:auto}</style></head>
<body><h1>shardline bench load</h1>
<p>${esc(r.url)}: ${r.connections.opened} connections, ${r.mode} model${r.partial ? ' (<b>partial: interrupted</b>)' : ''}</p>
${renderSvg(r, ticks)}
<pre>${esc(summary)}</pre>
</body></html>
`;
}

export function writeReport(file: string, r: LoadResult, ticks: ProgressLine[], summary: string): void {
  writeFileSync(file, file.endsWith('.svg') ? renderSvg(r, ticks) : renderHtml(r, ticks, summary));
}
