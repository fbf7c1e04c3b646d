/**
 * The emulator's billing page: what AWS would put on the buyers' bills, per customer × dimension × hour,
 * plus the `DuplicateRecord` attempts that were not billed. One self-contained HTML document: inline CSS
 * and SVG, no scripts, and a Content-Security-Policy that forbids every network load.
 */
import type { BilledRecord, DuplicateAttempt } from "../types.js";
import { type ChartPoint, renderChart } from "./chart.js";
import { escapeHtml, formatHour, formatNumber } from "./html.js";

export { escapeHtml } from "./html.js";

export interface BillingPageInput {
  records: BilledRecord[];
  duplicates: DuplicateAttempt[];
  now: Date;
  title?: string;
  /**
   * Reload the page every N seconds (`true` = 5) through `<meta http-equiv="refresh">`.
   * @default false
   */
  autoRefresh?: boolean | number;
  /**
   * What the chart's bar segments stand for.
   * @default "dimension"
   */
  stackBy?: "dimension" | "customer";
  /**
   * Most UTC hours drawn in the chart (the most recent ones); the table always lists every hour.
   * @default 48
   */
  maxChartHours?: number;
}

const BRAND = Symbol.for("marketmeter.emulator.BillingPageError");

/**
 * Thrown by {@link renderBillingPage} for malformed input; `code` is always `"INVALID_ARGUMENT"`.
 *
 * @example
 * try { renderBillingPage(input) } catch (err) { if (err instanceof BillingPageError) console.error(err.message) }
 */
export class BillingPageError extends Error {
  readonly code = "INVALID_ARGUMENT" as const;
  constructor(message: string) {
    super(message);
    this.name = "BillingPageError";
    Object.defineProperty(this, BRAND, { value: true, enumerable: false });
  }
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
  }
}

/** The customer a record bills: the license (Concurrent Agreements), the legacy id, or the resource. */
export function customerKey(r: {
  customerIdentifier?: string;
  customerAWSAccountId?: string;
  licenseArn?: string;
  resourceId?: string;
}): string {
  if (r.licenseArn)
    return r.customerAWSAccountId ? `${r.customerAWSAccountId} ${r.licenseArn}` : r.licenseArn;
  if (r.customerIdentifier) return r.customerIdentifier;
  if (r.customerAWSAccountId) return r.customerAWSAccountId;
  return r.resourceId ? `resource ${r.resourceId}` : "(unknown)";
}

function shortCustomer(r: {
  customerIdentifier?: string;
  customerAWSAccountId?: string;
  licenseArn?: string;
  resourceId?: string;
}) {
  if (r.licenseArn) {
    const id = /l-[0-9a-zA-Z]+$/.exec(r.licenseArn)?.[0] ?? r.licenseArn;
    return r.customerAWSAccountId ? `${r.customerAWSAccountId} · ${id}` : id;
  }
  return customerKey(r);
}

function customerCell(r: BilledRecord | DuplicateAttempt): string {
  const resourceId = "resourceId" in r ? r.resourceId : undefined;
  if (r.licenseArn) {
    const account = r.customerAWSAccountId
      ? `<span class="acct">${escapeHtml(r.customerAWSAccountId)}</span>`
      : "";
    return `${account}<span class="tag ca" title="Concurrent Agreements identity">license</span><div class="mono small arn">${escapeHtml(r.licenseArn)}</div>`;
  }
  if (r.customerIdentifier) {
    return `<span class="mono arn">${escapeHtml(r.customerIdentifier)}</span><span class="tag legacy" title="legacy CustomerIdentifier">legacy</span>`;
  }
  if (r.customerAWSAccountId) return `<span class="acct">${escapeHtml(r.customerAWSAccountId)}</span>`;
  if (resourceId)
    return `<span class="mono">${escapeHtml(resourceId)}</span><span class="tag">resource</span>`;
  return `<span class="muted">(unknown)</span>`;
}

/** ISO time → `2026-07-15 10:06:00`; anything unparsable is shown as given. */
function formatTime(value: string): string {
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? value : new Date(ms).toISOString().slice(0, 19).replace("T", " ");
}

function requireHour(value: unknown, where: string): number {
  const ms = typeof value === "string" ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(ms)) throw new BillingPageError(`${where}.hour must be an ISO 8601 date string`);
  return ms;
}

function validate(input: BillingPageInput): void {
  if (typeof input !== "object" || input === null)
    throw new BillingPageError("renderBillingPage needs an input object");
  if (!Array.isArray(input.records)) throw new BillingPageError("records must be an array");
  if (!Array.isArray(input.duplicates)) throw new BillingPageError("duplicates must be an array");
  if (!(input.now instanceof Date) || Number.isNaN(input.now.getTime())) {
    throw new BillingPageError("now must be a valid Date");
  }
  if (input.title !== undefined && typeof input.title !== "string")
    throw new BillingPageError("title must be a string");
  const refresh = input.autoRefresh;
  if (
    refresh !== undefined &&
    typeof refresh !== "boolean" &&
    !(typeof refresh === "number" && Number.isInteger(refresh) && refresh >= 1 && refresh <= 3600)
  ) {
    throw new BillingPageError("autoRefresh must be a boolean or a whole number of seconds (1..3600)");
  }
  if (input.stackBy !== undefined && input.stackBy !== "dimension" && input.stackBy !== "customer") {
    throw new BillingPageError(`stackBy must be "dimension" or "customer"`);
  }
  const maxHours = input.maxChartHours;
  if (maxHours !== undefined && !(Number.isInteger(maxHours) && maxHours >= 1 && maxHours <= 24 * 62)) {
    throw new BillingPageError("maxChartHours must be a whole number from 1 to 1488");
  }
  input.records.forEach((r, i) => {
    const where = `records[${i}]`;
    if (typeof r !== "object" || r === null) throw new BillingPageError(`${where} must be an object`);
    requireHour(r.hour, where);
    if (typeof r.quantity !== "number" || !Number.isFinite(r.quantity)) {
      throw new BillingPageError(`${where}.quantity must be a finite number`);
    }
    if (typeof r.dimension !== "string") throw new BillingPageError(`${where}.dimension must be a string`);
  });
  input.duplicates.forEach((d, i) => {
    const where = `duplicates[${i}]`;
    if (typeof d !== "object" || d === null) throw new BillingPageError(`${where} must be an object`);
    requireHour(d.hour, where);
    if (!Number.isFinite(d.billedQuantity) || !Number.isFinite(d.attemptedQuantity)) {
      throw new BillingPageError(`${where} needs finite billedQuantity and attemptedQuantity`);
    }
  });
}

interface Row {
  hour: string;
  customer: string;
  productCode: string;
  dimension: string;
  region: string;
  quantity: number;
  meteringRecordIds: string[];
  sample: BilledRecord;
  records: number;
}

function groupRows(records: BilledRecord[]): Row[] {
  const rows = new Map<string, Row>();
  for (const r of records) {
    const hour = new Date(Date.parse(r.hour)).toISOString();
    const customer = customerKey(r);
    const key = JSON.stringify([hour, customer, r.productCode, r.dimension, r.region]);
    let row = rows.get(key);
    if (!row) {
      row = {
        hour,
        customer,
        productCode: r.productCode,
        dimension: r.dimension,
        region: r.region,
        quantity: 0,
        meteringRecordIds: [],
        sample: r,
        records: 0,
      };
      rows.set(key, row);
    }
    row.quantity += r.quantity;
    row.records += 1;
    if (r.meteringRecordId) row.meteringRecordIds.push(r.meteringRecordId);
  }
  const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  return [...rows.values()].sort(
    (a, b) =>
      cmp(b.hour, a.hour) ||
      cmp(a.customer, b.customer) ||
      cmp(a.productCode, b.productCode) ||
      cmp(a.dimension, b.dimension) ||
      cmp(a.region, b.region),
  );
}

const STYLE = `
:root{--fg:#1d2330;--muted:#5b6475;--line:#e3e7ee;--bg:#f6f7fb;--card:#fff;--accent:#0b5cad;--warn:#8a4b00;--warnbg:#fff4e0;--warnline:#f0b35a;--bad:#a11d2b;--badbg:#fde8ea}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--fg);background:var(--bg)}
header{background:#232f3e;color:#fff;padding:14px 28px;display:flex;align-items:baseline;gap:16px;flex-wrap:wrap}
header h1{font-size:18px;margin:0;font-weight:600}
header .clock{color:#c8d1dc;font-size:13px}
main{max-width:1200px;margin:0 auto;padding:20px 28px 40px}
section{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:16px 18px;margin-bottom:18px}
h2{font-size:15px;margin:0 0 12px;font-weight:600}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:12px}
.card{border:1px solid var(--line);border-radius:6px;padding:10px 12px}
.card .label{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.card .value{font-size:22px;font-weight:600;font-variant-numeric:tabular-nums}
.card.warn{background:var(--warnbg);border-color:var(--warnline)}
.per-dim{margin:12px 0 0;padding:0;list-style:none;display:flex;flex-wrap:wrap;gap:6px 18px;color:var(--muted)}
.per-dim b{color:var(--fg);font-variant-numeric:tabular-nums}
.chart svg{width:100%;height:auto;display:block}
.chart .grid{stroke:#e9edf3;stroke-width:1}
.chart .baseline,.chart .tick-mark{stroke:#8a94a6;stroke-width:1}
.chart .tick{font-size:12px;fill:#4a5365}
.chart .tick.date{fill:#7a8396}
.chart .axis-title{font-size:13px;fill:#2b3342;font-weight:600}
.chart rect{stroke:#fff;stroke-width:.5}
.legend{display:flex;flex-wrap:wrap;gap:6px 18px;margin:10px 0 0;padding:0;list-style:none}
.legend li{display:flex;align-items:center;gap:6px}
.swatch{width:12px;height:12px;border-radius:2px;display:inline-block}
.note{color:var(--muted);font-size:12px;margin:8px 0 0}
table{width:100%;border-collapse:collapse;font-variant-numeric:tabular-nums}
th,td{text-align:left;padding:7px 10px;border-bottom:1px solid var(--line);vertical-align:top}
th{font-size:12px;color:var(--muted);text-transform:uppercase;letter-spacing:.04em;background:#fafbfd;position:sticky;top:0}
td.num,th.num{text-align:right}
tbody tr:nth-child(even){background:#fbfcfe}
.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px}
.arn{word-break:break-all}
.tw{overflow-x:auto}
td.cust{min-width:250px}
td.nw,th,.nwi{white-space:nowrap}
.small{font-size:11.5px;color:var(--muted)}
.acct{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px;margin-right:6px}
.tag{display:inline-block;font-size:10.5px;padding:0 6px;border-radius:9px;background:#eef1f6;color:#4a5365;margin-left:6px;vertical-align:1px}
.tag.ca{background:#e4effb;color:var(--accent)}
.tag.legacy{background:#f1ecfa;color:#5b3b8c}
.muted{color:var(--muted)}
.duplicates{border-color:var(--warnline);background:var(--warnbg)}
.duplicates h2{color:var(--warn)}
.duplicates table{background:#fff}
.duplicates tr.mismatch td{background:var(--badbg)}
.duplicates tr.mismatch td.diff{color:var(--bad);font-weight:600}
.empty{text-align:center;padding:36px 16px;color:var(--muted)}
.empty strong{display:block;color:var(--fg);font-size:16px;margin-bottom:6px}
footer{color:var(--muted);font-size:12px;text-align:center;margin-top:8px}
`;

/**
 * Renders the billing page as a complete HTML document with no external resources.
 *
 * @example
 * res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
 * res.end(renderBillingPage({ records: state.ledger(), duplicates: state.duplicates(), now: clock.now(), autoRefresh: true }));
 */
export function renderBillingPage(input: BillingPageInput): string {
  validate(input);
  const { records, duplicates, now } = input;
  const title = input.title ?? "marketmeter emulator — billed usage";
  const stackBy = input.stackBy ?? "dimension";
  const refresh =
    input.autoRefresh === true ? 5 : typeof input.autoRefresh === "number" ? input.autoRefresh : undefined;

  const rows = groupRows(records);
  const customers = new Set(records.map(customerKey));
  const dimensions = new Map<string, number>();
  for (const r of records) dimensions.set(r.dimension, (dimensions.get(r.dimension) ?? 0) + r.quantity);
  const hours = new Set(rows.map((r) => r.hour));
  const mismatches = duplicates.filter((d) => d.attemptedQuantity !== d.billedQuantity).length;

  const head = [
    `<!DOCTYPE html>`,
    `<html lang="en">`,
    `<head>`,
    `<meta charset="utf-8">`,
    `<meta name="viewport" content="width=device-width, initial-scale=1">`,
    // Nothing on this page may load from the network, even if some text escaped our escaping.
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'">`,
    refresh !== undefined ? `<meta http-equiv="refresh" content="${refresh}">` : "",
    `<title>${escapeHtml(title)}</title>`,
    `<style>${STYLE}</style>`,
    `</head>`,
  ].filter(Boolean);

  const body: string[] = [];
  body.push(
    `<body data-testid="billing-page">`,
    `<header><h1 data-testid="page-title">${escapeHtml(title)}</h1><span class="clock" data-testid="emulator-now">emulator clock ${escapeHtml(now.toISOString())}</span></header>`,
    `<main>`,
  );

  // Summary.
  const card = (id: string, label: string, value: string, warn = false, attrs = "") =>
    `<div class="card${warn ? " warn" : ""}"><div class="label">${escapeHtml(label)}</div><div class="value" data-testid="${id}"${attrs}>${escapeHtml(value)}</div></div>`;
  body.push(
    `<section data-testid="summary"><h2>Summary</h2><div class="cards">`,
    // One figure per dimension: api_calls and report_rows are different units, never one sum.
    ...[...dimensions.entries()]
      .sort((a, b) => (a[0] < b[0] ? -1 : 1))
      .map(([d, q]) =>
        card(
          "summary-dimension-quantity",
          `Billed ${d}`,
          formatNumber(q),
          false,
          ` data-dimension="${escapeHtml(d)}"`,
        ),
      ),
    card("summary-records", "Billed records", formatNumber(records.length)),
    card("summary-customers", "Customers", formatNumber(customers.size)),
    card("summary-dimensions", "Dimensions", formatNumber(dimensions.size)),
    card("summary-hours", "Hours", formatNumber(hours.size)),
    card("summary-duplicates", "Duplicate attempts", formatNumber(duplicates.length), duplicates.length > 0),
    `</div>`,
  );
  if (dimensions.size > 0) {
    const items = [...dimensions.entries()]
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
      .map(
        ([d, q]) =>
          `<li data-testid="summary-dimension" data-dimension="${escapeHtml(d)}"><span class="mono">${escapeHtml(d)}</span> <b>${escapeHtml(formatNumber(q))}</b></li>`,
      );
    body.push(`<ul class="per-dim">${items.join("")}</ul>`);
  }
  body.push(`</section>`);

  if (records.length === 0) {
    body.push(
      `<section data-testid="empty-state" class="empty"><strong>No billed usage yet</strong>Send <span class="mono">BatchMeterUsage</span> or <span class="mono">MeterUsage</span> to the emulator and the accepted records appear here, one row per customer, dimension and UTC hour.</section>`,
    );
  } else {
    // One chart per dimension: quantities of different dimensions are different units, so a bar never
    // adds them up; with stackBy "customer" a bar's segments are the buyers of that dimension.
    for (const dimension of [...dimensions.keys()].sort()) {
      const points: ChartPoint[] = records
        .filter((r) => r.dimension === dimension)
        .map((r) => ({
          hour: new Date(Date.parse(r.hour)).toISOString(),
          series: stackBy === "dimension" ? r.dimension : shortCustomer(r),
          quantity: r.quantity,
        }));
      const chart = renderChart(points, {
        maxHours: input.maxChartHours ?? 48,
        maxSeries: 9,
        seriesLabel: stackBy,
      });
      const legend = chart.legend
        .map(
          (l) =>
            `<li data-testid="legend-item" data-series="${escapeHtml(l.series)}"><span class="swatch" style="background:${l.color}"></span><span class="mono">${escapeHtml(l.series)}</span> <span class="muted">${escapeHtml(formatNumber(l.total))}</span></li>`,
        )
        .join("");
      body.push(
        `<section class="chart" data-testid="chart" data-dimension="${escapeHtml(dimension)}"><h2>Billed <span class="mono">${escapeHtml(dimension)}</span> per UTC hour${stackBy === "customer" ? ", by customer" : ""}</h2>`,
        chart.svg,
        `<ul class="legend" data-testid="chart-legend">${legend}</ul>`,
        chart.truncatedHours > 0
          ? `<p class="note" data-testid="chart-truncated">${chart.truncatedHours} earlier hour(s) with usage are not drawn; the table lists them.</p>`
          : "",
        `</section>`,
      );
    }

    const tr = rows.map(
      (row) =>
        `<tr data-testid="usage-row" data-hour="${escapeHtml(row.hour)}" data-dimension="${escapeHtml(row.dimension)}" data-customer="${escapeHtml(row.customer)}" data-quantity="${row.quantity}">` +
        `<td class="mono nw">${escapeHtml(formatHour(row.hour))}</td>` +
        `<td class="cust" data-testid="usage-customer">${customerCell(row.sample)}</td>` +
        `<td class="mono nw">${escapeHtml(row.productCode)}</td>` +
        `<td class="mono nw">${escapeHtml(row.dimension)}</td>` +
        `<td class="num nw" data-testid="usage-quantity">${escapeHtml(formatNumber(row.quantity))}</td>` +
        `<td class="mono small" data-testid="usage-record-id">${row.meteringRecordIds.map((id) => escapeHtml(id)).join("<br>")}</td>` +
        `<td class="mono nw">${escapeHtml(row.region)}</td>` +
        `</tr>`,
    );
    body.push(
      `<section data-testid="usage-section"><h2>Billed usage (${rows.length} row${rows.length === 1 ? "" : "s"}, newest hour first)</h2>`,
      `<div class="tw"><table data-testid="usage-table"><thead><tr><th>Hour (UTC)</th><th>Customer</th><th>Product</th><th>Dimension</th><th class="num">Quantity</th><th>MeteringRecordId</th><th>Region</th></tr></thead>`,
      `<tbody>${tr.join("\n")}</tbody></table></div></section>`,
    );
  }

  // Duplicates: first write wins, so a later attempt with another quantity is lost revenue or a bug.
  body.push(
    `<section class="${duplicates.length > 0 ? "duplicates" : ""}" data-testid="duplicates-section"><h2>DuplicateRecord attempts (${duplicates.length}${mismatches > 0 ? `, ${mismatches} with a different quantity` : ""})</h2>`,
  );
  if (duplicates.length === 0) {
    body.push(`<p class="muted" data-testid="duplicates-empty">No duplicate submissions.</p>`);
  } else {
    const sorted = [...duplicates].sort((a, b) =>
      a.receivedAt < b.receivedAt ? 1 : a.receivedAt > b.receivedAt ? -1 : 0,
    );
    const dr = sorted.map((d) => {
      const diff = d.attemptedQuantity - d.billedQuantity;
      const mismatch = diff !== 0;
      return (
        `<tr data-testid="duplicate-row" class="${mismatch ? "mismatch" : ""}" data-hour="${escapeHtml(new Date(Date.parse(d.hour)).toISOString())}" data-billed="${d.billedQuantity}" data-attempted="${d.attemptedQuantity}">` +
        `<td class="mono"><span class="nwi">${escapeHtml(formatTime(d.receivedAt))}</span><div class="small arn" title="request id">${escapeHtml(d.requestId)}</div></td>` +
        `<td class="mono nw">${escapeHtml(formatHour(new Date(Date.parse(d.hour)).toISOString()))}</td>` +
        `<td>${customerCell(d)}</td>` +
        `<td class="mono nw">${escapeHtml(d.productCode)}</td>` +
        `<td class="mono nw">${escapeHtml(d.dimension)}</td>` +
        `<td class="num" data-testid="duplicate-billed">${escapeHtml(formatNumber(d.billedQuantity))}</td>` +
        `<td class="num" data-testid="duplicate-attempted">${escapeHtml(formatNumber(d.attemptedQuantity))}</td>` +
        `<td class="num diff nw">${mismatch ? escapeHtml(`${diff > 0 ? "+" : ""}${formatNumber(diff)} not billed`) : "same"}</td>` +
        `</tr>`
      );
    });
    body.push(
      `<p class="note">The first record written for a customer, dimension and hour is billed; later ones are answered <span class="mono">DuplicateRecord</span> and ignored.</p>`,
      `<div class="tw"><table data-testid="duplicates-table"><thead><tr><th>Received (UTC)</th><th>Hour (UTC)</th><th>Customer</th><th>Product</th><th>Dimension</th><th class="num">Billed</th><th class="num">Attempted</th><th class="num">Difference</th></tr></thead>`,
      `<tbody>${dr.join("\n")}</tbody></table></div>`,
    );
  }
  body.push(`</section>`);

  body.push(
    `<footer>Generated ${escapeHtml(now.toISOString())} (emulator clock)${refresh !== undefined ? ` · refreshes every ${refresh} s` : ""}. Local emulator data — not an AWS bill.</footer>`,
    `</main>`,
    `</body>`,
    `</html>`,
  );
  return `${head.join("\n")}\n${body.join("\n")}\n`;
}
