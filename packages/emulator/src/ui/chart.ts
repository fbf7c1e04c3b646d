import { escapeHtml, formatHour, formatNumber } from "./html.js";

export interface ChartPoint {
  /** Start of the UTC hour, ISO 8601. */
  hour: string;
  series: string;
  quantity: number;
}

export interface ChartOptions {
  /** Most hours drawn; older hours are left out (the table still lists them). */
  maxHours: number;
  /** Most distinct series before the smallest ones are merged into "other". */
  maxSeries: number;
  seriesLabel: string;
}

/** Colour-blind-friendly palette (Okabe–Ito order, then extra distinct hues). */
export const PALETTE = [
  "#0072B2",
  "#E69F00",
  "#009E73",
  "#CC79A7",
  "#56B4E9",
  "#D55E00",
  "#F0E442",
  "#6A3D9A",
  "#7F7F7F",
];
const OTHER = "other";
const HOUR_MS = 3_600_000;

export interface ChartResult {
  svg: string;
  legend: Array<{ series: string; color: string; total: number }>;
  hours: string[];
  truncatedHours: number;
}

function niceStep(max: number, ticks: number): number {
  const raw = max / ticks;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const residual = raw / magnitude;
  const nice = residual <= 1 ? 1 : residual <= 2 ? 2 : residual <= 2.5 ? 2.5 : residual <= 5 ? 5 : 10;
  return Math.max(nice * magnitude, Number.EPSILON);
}

/**
 * Renders a stacked bar chart (one bar per UTC hour, one segment per series) as inline SVG.
 * Hours without usage between the first and last drawn hour are shown as gaps, so time reads linearly.
 */
export function renderChart(points: ChartPoint[], options: ChartOptions): ChartResult {
  const totals = new Map<string, number>();
  for (const p of points) totals.set(p.series, (totals.get(p.series) ?? 0) + p.quantity);
  const ranked = [...totals.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  const keep = new Set(
    ranked.length > options.maxSeries
      ? ranked.slice(0, options.maxSeries - 1).map(([s]) => s)
      : ranked.map(([s]) => s),
  );
  const seriesOf = (s: string) => (keep.has(s) ? s : OTHER);
  const seriesOrder = [...keep];
  if (ranked.length > keep.size) seriesOrder.push(OTHER);
  const colors = new Map(seriesOrder.map((s, i) => [s, PALETTE[i % PALETTE.length] as string]));

  const hourMs = [...new Set(points.map((p) => Date.parse(p.hour)))].sort((a, b) => a - b);
  const last = hourMs[hourMs.length - 1] ?? 0;
  const first = hourMs[0] ?? 0;
  const spanHours = hourMs.length === 0 ? 0 : Math.round((last - first) / HOUR_MS) + 1;
  const drawnHours = Math.min(spanHours, options.maxHours);
  const start = last - (drawnHours - 1) * HOUR_MS;
  const hours: string[] = [];
  for (let i = 0; i < drawnHours; i++) hours.push(new Date(start + i * HOUR_MS).toISOString());
  const truncatedHours = hourMs.filter((h) => h < start).length;

  // stacks[hourIndex] = Map(series → quantity)
  const stacks = hours.map(() => new Map<string, number>());
  for (const p of points) {
    const index = Math.round((Date.parse(p.hour) - start) / HOUR_MS);
    const stack = stacks[index];
    if (!stack) continue;
    const s = seriesOf(p.series);
    stack.set(s, (stack.get(s) ?? 0) + p.quantity);
  }
  const maxTotal = Math.max(0, ...stacks.map((m) => [...m.values()].reduce((a, b) => a + b, 0)));

  const width = 960;
  const height = 340;
  const m = { left: 76, right: 20, top: 20, bottom: 64 };
  const plotW = width - m.left - m.right;
  const plotH = height - m.top - m.bottom;
  const step = niceStep(maxTotal > 0 ? maxTotal : 1, 5);
  const yMax = Math.max(step, Math.ceil((maxTotal > 0 ? maxTotal : 1) / step) * step);
  const y = (v: number) => m.top + plotH - (v / yMax) * plotH;
  const band = drawnHours > 0 ? plotW / drawnHours : plotW;
  const barW = Math.max(2, Math.min(56, band * 0.72));

  const parts: string[] = [];
  parts.push(
    `<svg data-testid="chart-svg" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" role="img" aria-labelledby="chart-title chart-desc" preserveAspectRatio="xMidYMid meet">`,
    `<title id="chart-title">Billed quantity per UTC hour, stacked by ${escapeHtml(options.seriesLabel)}</title>`,
    `<desc id="chart-desc">${drawnHours} hour(s) from ${escapeHtml(hours[0] ? formatHour(hours[0]) : "-")} to ${escapeHtml(hours[hours.length - 1] ? formatHour(hours[hours.length - 1] as string) : "-")} UTC</desc>`,
  );
  // Gridlines and y-axis labels.
  parts.push(`<g class="axis y-axis" data-testid="chart-y-axis">`);
  for (let v = 0; v <= yMax + step / 2; v += step) {
    const yy = y(v).toFixed(1);
    parts.push(
      `<line class="grid" x1="${m.left}" x2="${width - m.right}" y1="${yy}" y2="${yy}"/>`,
      `<text class="tick" x="${m.left - 8}" y="${yy}" text-anchor="end" dominant-baseline="middle">${escapeHtml(formatNumber(Number(v.toPrecision(12))))}</text>`,
    );
  }
  parts.push(
    `<text class="axis-title" transform="translate(18 ${m.top + plotH / 2}) rotate(-90)" text-anchor="middle">Billed quantity</text>`,
    `</g>`,
  );
  // Bars.
  parts.push(`<g class="bars">`);
  stacks.forEach((stack, i) => {
    const hour = hours[i] as string;
    const x = m.left + i * band + (band - barW) / 2;
    let acc = 0;
    for (const s of seriesOrder) {
      const q = stack.get(s);
      if (q === undefined || q <= 0) continue;
      const y0 = y(acc);
      const y1 = y(acc + q);
      acc += q;
      const h = Math.max(1, y0 - y1);
      parts.push(
        `<rect data-testid="chart-bar" data-hour="${escapeHtml(hour)}" data-series="${escapeHtml(s)}" data-quantity="${q}" x="${x.toFixed(1)}" y="${(y0 - h).toFixed(1)}" width="${barW.toFixed(1)}" height="${h.toFixed(1)}" fill="${colors.get(s)}"><title>${escapeHtml(`${formatHour(hour)} UTC · ${s}: ${formatNumber(q)}`)}</title></rect>`,
      );
    }
  });
  parts.push(`</g>`);
  // X axis, with at most ~16 labels so they never overlap.
  const every = Math.max(1, Math.ceil(drawnHours / 16));
  const baseY = m.top + plotH;
  parts.push(
    `<g class="axis x-axis" data-testid="chart-x-axis">`,
    `<line class="baseline" x1="${m.left}" x2="${width - m.right}" y1="${baseY}" y2="${baseY}"/>`,
  );
  hours.forEach((hour, i) => {
    // Label every `every`-th hour, plus the latest hour when it is far enough from the previous label.
    const isLast = i === drawnHours - 1;
    if (i % every !== 0 && !(isLast && i % every >= Math.ceil(every / 2))) return;
    const cx = (m.left + i * band + band / 2).toFixed(1);
    const showDate = i === 0 || hour.endsWith("T00:00:00.000Z");
    parts.push(
      `<line class="tick-mark" x1="${cx}" x2="${cx}" y1="${baseY}" y2="${baseY + 5}"/>`,
      `<text class="tick" x="${cx}" y="${baseY + 18}" text-anchor="middle">${escapeHtml(hour.slice(11, 16))}</text>`,
    );
    if (showDate) {
      parts.push(
        `<text class="tick date" x="${cx}" y="${baseY + 32}" text-anchor="middle">${escapeHtml(hour.slice(5, 10))}</text>`,
      );
    }
  });
  parts.push(
    `<text class="axis-title" x="${m.left + plotW / 2}" y="${height - 8}" text-anchor="middle">Hour (UTC)</text>`,
    `</g>`,
    `</svg>`,
  );

  const legendTotals = new Map<string, number>();
  for (const [s, t] of totals) legendTotals.set(seriesOf(s), (legendTotals.get(seriesOf(s)) ?? 0) + t);
  return {
    svg: parts.join("\n"),
    legend: seriesOrder.map((s) => ({
      series: s,
      color: colors.get(s) as string,
      total: legendTotals.get(s) ?? 0,
    })),
    hours,
    truncatedHours,
  };
}
