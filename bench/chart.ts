/**
 * Hand-written SVG charts: line panels (x categories, one line per series)
 * and grouped bar panels. No dependencies; plain strings.
 */

export interface Series {
  name: string;
  /** One value per category; NaN leaves a gap. */
  values: number[];
}

export interface Panel {
  title: string;
  yLabel: string;
  categories: string[];
  series: Series[];
}

const COLORS = ['#7f7f7f', '#d62728', '#1f77b4', '#2ca02c', '#9467bd', '#ff7f0e'];
const W = 420;
const H = 300;
const M = { top: 34, right: 16, bottom: 44, left: 64 };

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function label(v: number): string {
  if (v >= 1e6) return `${+(v / 1e6).toFixed(1)}M`;
  if (v >= 1e3) return `${+(v / 1e3).toFixed(1)}k`;
  return `${+v.toFixed(2)}`;
}

function frame(panel: Panel, x0: number, max: number): string[] {
  const out: string[] = [];
  const ph = H - M.top - M.bottom;
  out.push(`<text x="${x0 + W / 2}" y="18" text-anchor="middle" font-weight="bold">${esc(panel.title)}</text>`);
  for (let i = 0; i <= 4; i++) {
    const v = (max * i) / 4;
    const y = M.top + ph - (ph * i) / 4;
    out.push(`<line x1="${x0 + M.left}" x2="${x0 + W - M.right}" y1="${y}" y2="${y}" stroke="#ddd"/>`);
    out.push(`<text x="${x0 + M.left - 6}" y="${y + 4}" text-anchor="end">${label(v)}</text>`);
  }
  out.push(`<text transform="translate(${x0 + 14},${M.top + ph / 2}) rotate(-90)" text-anchor="middle">${esc(panel.yLabel)}</text>`);
  return out;
}

function legend(series: Series[], y: number): string[] {
  return series.map((s, i) => {
    const x = 20 + i * 150;
    return `<rect x="${x}" y="${y - 9}" width="12" height="12" fill="${COLORS[i % COLORS.length]}"/><text x="${x + 18}" y="${y + 1}">${esc(s.name)}</text>`;
  });
}

function linePanel(panel: Panel, x0: number): string[] {
  const all = panel.series.flatMap((s) => s.values).filter(Number.isFinite);
  const max = niceMax(Math.max(0, ...all));
  const out = frame(panel, x0, max);
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const n = panel.categories.length;
  const xAt = (i: number): number => x0 + M.left + (n === 1 ? pw / 2 : ((pw * i) / (n - 1)) * 0.9 + pw * 0.05);
  const yAt = (v: number): number => M.top + ph - (ph * v) / max;
  panel.categories.forEach((c, i) => out.push(`<text x="${xAt(i)}" y="${H - M.bottom + 18}" text-anchor="middle">${esc(c)}</text>`));
  panel.series.forEach((s, si) => {
    const color = COLORS[si % COLORS.length];
    const pts = s.values.map((v, i) => (Number.isFinite(v) ? `${xAt(i).toFixed(1)},${yAt(v).toFixed(1)}` : null)).filter((p) => p !== null);
    if (pts.length > 1) out.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts.join(' ')}"/>`);
    s.values.forEach((v, i) => {
      if (Number.isFinite(v))
        out.push(`<circle cx="${xAt(i).toFixed(1)}" cy="${yAt(v).toFixed(1)}" r="3.5" fill="${color}"><title>${esc(s.name)}: ${label(v)}</title></circle>`);
    });
  });
  return out;
}

function barPanel(panel: Panel, x0: number): string[] {
  const all = panel.series.flatMap((s) => s.values).filter(Number.isFinite);
  const max = niceMax(Math.max(0, ...all));
  const out = frame(panel, x0, max);
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const groupW = pw / panel.categories.length;
  const barW = (groupW * 0.8) / Math.max(1, panel.series.length);
  panel.categories.forEach((c, ci) => {
    const gx = x0 + M.left + ci * groupW + groupW * 0.1;
    out.push(`<text x="${gx + groupW * 0.4}" y="${H - M.bottom + 18}" text-anchor="middle">${esc(c)}</text>`);
    panel.series.forEach((s, si) => {
      const v = s.values[ci] ?? NaN;
      if (!Number.isFinite(v)) return;
      const h = (ph * v) / max;
      out.push(
        `<rect x="${(gx + si * barW).toFixed(1)}" y="${(M.top + ph - h).toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${h.toFixed(1)}" fill="${COLORS[si % COLORS.length]}"><title>${esc(s.name)}: ${label(v)}</title></rect>`,
      );
    });
  });
  return out;
}

/** Panels side by side, one shared legend (taken from the first panel's series). */
export function chart(kind: 'line' | 'bar', panels: Panel[]): string {
  const width = W * panels.length;
  const height = H + 30;
  const body = panels.flatMap((p, i) => (kind === 'line' ? linePanel(p, i * W) : barPanel(p, i * W)));
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    ...body,
    ...legend(panels[0]?.series ?? [], H + 14),
    '</svg>',
    '',
  ].join('\n');
}
