/**
 * The seller's usage page: read-only, server-rendered, per customer usage by hour (chart and table),
 * each grain's state and `MeteringRecordId`, rejections and expirations with reasons, period totals.
 */
import { MarketplaceError } from "../../errors/index.js";
import { type Identity, identityFromKey, identityKey } from "../../identity/index.js";
import type { GrainReport, ReportQuery } from "../../marketplace/index.js";
import type { Logger } from "../../runtime/index.js";
import type { Awaitable } from "../metering.js";
import { problem } from "../problem.js";
import { httpSettingsOf } from "../settings.js";
import type { HttpResult } from "../types.js";
import { Html, html } from "./html.js";
import { formatDay, parseUsagePageQuery, type UsagePageQuery } from "./query.js";
import {
  forMethod,
  isLoopback,
  methodRefusal,
  queryOf,
  refuse,
  USAGE_CSS,
  type UsageRequest,
  usageHeaders,
} from "./respond.js";
import { standingOf, totalsBy, type UsageTotals } from "./tally.js";

const H = 3_600_000;
/** Grains one page reads at most; past it the page says it is cut short. */
const PAGE_LIMIT = 10_000;

/** What the usage routes need of a marketplace. */
export interface UsageTarget {
  report(query?: ReportQuery): Promise<GrainReport[]>;
}

/** Options of the seller's usage page, the same in every adapter. */
export interface UsagePageOptions<A extends unknown[]> {
  /**
   * Who may see the page: return true for your operators (an admin session, a token). Required unless
   * `localOnly: true`; the page holds every customer's usage.
   */
  authorize?: (...args: A) => Awaitable<boolean>;
  /**
   * Serve only requests from this machine (127.0.0.0/8, ::1), for development. Other peers get 403.
   * @default false
   */
  localOnly?: boolean;
  /** The page's heading. @default "Usage" */
  title?: string;
  /** @default the marketplace's logger */
  logger?: Logger;
  /** Current time (epoch ms) for the default period. @default the marketplace's clock */
  clock?: () => number;
}

/** A configured seller page: serves one request, never rejects (every failure becomes an answer). */
export type UsagePage<A extends unknown[]> = (request: UsageRequest<A>) => Promise<HttpResult>;

/**
 * Builds the seller's usage page. Throws `INVALID_CONFIG` without `authorize` unless `localOnly: true`:
 * the page must never be mounted open by accident.
 *
 * @example
 * const page = createUsagePage(marketplace, { authorize: (req) => req.headers["x-admin"] === token })
 * const result = await page({ method, url, headers, remoteAddress, args: [req] })
 */
export function createUsagePage<A extends unknown[]>(
  marketplace: UsageTarget,
  options: UsagePageOptions<A>,
): UsagePage<A> {
  if (typeof marketplace !== "object" || marketplace === null || typeof marketplace.report !== "function")
    throw new MarketplaceError("INVALID_CONFIG", "the usage page needs a marketplace instance (report())");
  if (typeof options !== "object" || options === null)
    throw new MarketplaceError(
      "INVALID_CONFIG",
      "usage page options must be an object { authorize } or { localOnly: true }",
    );
  const { authorize, localOnly = false } = options;
  if (authorize !== undefined && typeof authorize !== "function")
    throw new MarketplaceError("INVALID_CONFIG", "authorize must be a function (request) => boolean");
  if (typeof localOnly !== "boolean")
    throw new MarketplaceError("INVALID_CONFIG", "localOnly must be a boolean");
  if (authorize === undefined && !localOnly)
    throw new MarketplaceError(
      "INVALID_CONFIG",
      "the usage page shows every customer's usage: pass authorize: (req) => boolean, or localOnly: true for development",
    );
  if (options.title !== undefined && typeof options.title !== "string")
    throw new MarketplaceError("INVALID_CONFIG", "title must be a string");
  const settings = httpSettingsOf(marketplace);
  const logger = options.logger ?? settings.logger;
  const clock = options.clock ?? settings.clock ?? Date.now;
  const title = options.title ?? "Usage";

  return async (request) => {
    const refused = methodRefusal(request);
    if (refused) return refused;
    const { headers } = request;
    if (localOnly && !isLoopback(request.remoteAddress))
      return refuse(headers, problem(403, "local-only", "This page is only served to this machine."));
    if (authorize) {
      let ok = false;
      try {
        ok = (await authorize(...request.args)) === true;
      } catch (err) {
        // Fail closed: a broken check never shows the page.
        logger?.warn(
          { error: err instanceof Error ? err.message : String(err) },
          "marketmeter: usage page authorize failed",
        );
      }
      if (!ok) return refuse(headers, problem(401, "unauthorized", "You are not allowed to see this page."));
    }
    let query: UsagePageQuery;
    try {
      query = parseUsagePageQuery(queryOf(request.url), clock());
    } catch (err) {
      return refuse(headers, problem(400, "invalid-query", (err as Error).message));
    }
    let grains: GrainReport[];
    try {
      grains = await marketplace.report({
        from: query.from,
        to: query.to,
        limit: PAGE_LIMIT,
        ...(query.customer ? { identity: identityFromKey(query.customer) } : {}),
      });
    } catch (err) {
      logger?.error(
        { error: err instanceof Error ? err.message : String(err) },
        "marketmeter: usage page could not read usage",
      );
      return refuse(headers, problem(503, "usage-unavailable", "Usage could not be read; please retry."), {
        "retry-after": "5",
      });
    }
    const body = renderUsagePage({ title, query, grains, truncated: grains.length >= PAGE_LIMIT });
    return forMethod(request.method, {
      status: 200,
      headers: usageHeaders("text/html; charset=utf-8"),
      body,
    });
  };
}

/** What the page shows. */
export interface UsagePageView {
  title: string;
  query: UsagePageQuery;
  /** Grains of the period (all customers for the overview, one customer otherwise). */
  grains: readonly GrainReport[];
  truncated?: boolean;
}

const n = (v: number) => new Html(`<td class="n">${v.toLocaleString("en-US")}</td>`);
const hourText = (d: Date) => `${d.toISOString().slice(0, 13)}:00Z`;

/** A readable name for an identity: the fields AWS uses, in their order. */
export function customerLabel(identity: Identity): string {
  if (identity.customerIdentifier) return `${identity.productCode} · ${identity.customerIdentifier}`;
  const tail = identity.licenseArn ? ` · ${identity.licenseArn}` : "";
  return `${identity.productCode} · ${identity.customerAWSAccountId}${tail}`;
}

function link(query: UsagePageQuery, patch: Partial<Record<"customer" | "dimension", string>>): string {
  const p = new URLSearchParams({ from: formatDay(query.from), to: formatDay(query.to - 86_400_000) });
  const customer = patch.customer ?? query.customer;
  if (customer) p.set("customer", customer);
  const dimension = "dimension" in patch ? patch.dimension : query.dimension;
  if (dimension) p.set("dimension", dimension);
  return `?${p.toString()}`;
}

const TOTAL_HEADERS = html`<th scope="col">Recorded</th><th scope="col">Sent to AWS</th><th scope="col">Open</th><th scope="col">Not sent (rejected, expired)</th><th scope="col">Uncertain</th>`;
const totalCells = (t: UsageTotals) => [n(t.recorded), n(t.sent), n(t.open), n(t.notSent), n(t.uncertain)];

function form(view: UsagePageView, customers: readonly string[], dimensions: readonly string[]): Html {
  const { query } = view;
  const opt = (value: string, label: string, selected: boolean) =>
    html`<option value="${value}"${selected ? new Html(" selected") : ""}>${label}</option>`;
  return html`<form method="get" aria-label="Choose customer and period">
<label for="mm-customer">Customer<select id="mm-customer" name="customer">${opt("", "All customers", !query.customer)}${customers.map((k) => opt(k, customerLabel(identityFromKey(k)), k === query.customer))}</select></label>
<label for="mm-dimension">Dimension<select id="mm-dimension" name="dimension">${opt("", "All dimensions", !query.dimension)}${dimensions.map((d) => opt(d, d, d === query.dimension))}</select></label>
<label for="mm-from">From (UTC day)<input id="mm-from" name="from" type="date" required value="${formatDay(query.from)}"></label>
<label for="mm-to">To (UTC day, included)<input id="mm-to" name="to" type="date" required value="${formatDay(query.to - 86_400_000)}"></label>
<button type="submit">Show</button>
</form>`;
}

function overview(view: UsagePageView, grains: readonly GrainReport[]): Html {
  const rows = [...totalsBy(grains, (g) => `${identityKey(g.identity)}\n${g.dimension}`)];
  if (rows.length === 0) return html`<p>No usage in this period.</p>`;
  return html`<table><caption>Totals per customer and dimension, ${formatDay(view.query.from)} to ${formatDay(view.query.to - 86_400_000)} (UTC)</caption>
<thead><tr><th scope="col">Customer</th><th scope="col">Dimension</th>${TOTAL_HEADERS}</tr></thead>
<tbody>${rows.map(([k, t]) => {
    const [key, dimension] = k.split("\n") as [string, string];
    return html`<tr><th scope="row"><a href="${link(view.query, { customer: key })}">${customerLabel(identityFromKey(key))}</a></th><td>${dimension}</td>${totalCells(t)}</tr>`;
  })}</tbody></table>`;
}

/** One bar per hour with usage, coloured by standing; the table below carries the same numbers. */
function chart(dimension: string, grains: readonly GrainReport[], query: UsagePageQuery, id: string): Html {
  const hours = Math.round((query.to - query.from) / H);
  const max = Math.max(1, ...grains.map((g) => g.quantity));
  const width = Math.max(hours * 4, 200);
  const height = 120;
  const total = grains.reduce((s, g) => s + g.quantity, 0);
  const peak = grains.reduce<GrainReport | undefined>(
    (p, g) => (p && p.quantity >= g.quantity ? p : g),
    undefined,
  );
  const desc = peak
    ? `${total.toLocaleString("en-US")} units of ${dimension} in ${grains.length} hours; the busiest hour was ${hourText(peak.hour)} with ${peak.quantity.toLocaleString("en-US")}. Every hour is listed in the table "Hours".`
    : `No usage of ${dimension} in this period.`;
  const bars = grains.map((g) => {
    const x = Math.round(((g.hour.getTime() - query.from) / H) * (width / hours));
    const h = Math.max(1, Math.round((g.quantity / max) * (height - 10)));
    return html`<rect class="${standingOf(g.state)}" x="${x}" y="${height - h}" width="${Math.max(2, Math.floor(width / hours) - 1)}" height="${h}"><title>${hourText(g.hour)}: ${g.quantity} (${g.state})</title></rect>`;
  });
  return html`<figure><svg xmlns="http://www.w3.org/2000/svg" role="img" aria-labelledby="${id}-t ${id}-d" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}"><title id="${id}-t">${dimension} per hour</title><desc id="${id}-d">${desc}</desc>${bars}</svg>
<figcaption>${desc}</figcaption></figure>`;
}

function customerView(view: UsagePageView, grains: readonly GrainReport[]): Html {
  const { query } = view;
  if (grains.length === 0) return html`<p>No usage for this customer in this period.</p>`;
  const byDimension = totalsBy(grains, (g) => g.dimension);
  const dims = [...byDimension.keys()];
  const problems = grains.filter(
    (g) => g.state === "rejected" || g.state === "expired" || g.state === "uncertain",
  );
  return html`<table><caption>Totals per dimension</caption>
<thead><tr><th scope="col">Dimension</th>${TOTAL_HEADERS}</tr></thead>
<tbody>${[...byDimension].map(([d, t]) => html`<tr><th scope="row">${d}</th>${totalCells(t)}</tr>`)}</tbody></table>
<h2>Usage by hour</h2>
<p class="key" aria-hidden="true"><span>■ green: sent</span><span>■ blue: open</span><span>■ red: not sent</span><span>■ amber: uncertain</span></p>
${dims.map(
  (d, i) =>
    html`<h3>${d}</h3>${chart(
      d,
      grains.filter((g) => g.dimension === d),
      query,
      `mm-chart-${i}`,
    )}`,
)}
<h2 id="mm-problems">Rejections and expirations</h2>
${
  problems.length === 0
    ? html`<p>None in this period.</p>`
    : html`<table aria-labelledby="mm-problems"><caption>Hours AWS will not bill, or may not have billed</caption>
<thead><tr><th scope="col">Hour (UTC)</th><th scope="col">Dimension</th><th scope="col">Units</th><th scope="col">State</th><th scope="col">Reason</th></tr></thead>
<tbody>${problems.map((g) => html`<tr><th scope="row">${hourText(g.hour)}</th><td>${g.dimension}</td>${n(g.quantity)}<td>${g.state}</td><td>${g.reason ?? g.lastError ?? ""}</td></tr>`)}</tbody></table>`
}
<h2 id="mm-hours">Hours</h2>
<table aria-labelledby="mm-hours"><caption>Every hour with usage: its state and the MeteringRecordId AWS returned</caption>
<thead><tr><th scope="col">Hour (UTC)</th><th scope="col">Dimension</th><th scope="col">Units</th><th scope="col">State</th><th scope="col">MeteringRecordId</th><th scope="col">Attempts</th><th scope="col">Note</th></tr></thead>
<tbody>${grains.map((g) => html`<tr><th scope="row">${hourText(g.hour)}</th><td>${g.dimension}</td>${n(g.quantity)}<td>${g.state}${g.uncertain && g.state !== "uncertain" ? " (an attempt's answer was lost)" : ""}</td><td>${g.meteringRecordId ? html`<code>${g.meteringRecordId}</code>` : ""}</td>${n(g.attempts)}<td>${g.reason ?? g.lastError ?? ""}</td></tr>`)}</tbody></table>`;
}

/** The whole page (a complete HTML document, valid under {@link USAGE_CSP}). */
export function renderUsagePage(view: UsagePageView): string {
  const { query } = view;
  const all = [...view.grains].sort(
    (a, b) =>
      a.hour.getTime() - b.hour.getTime() ||
      (a.dimension < b.dimension ? -1 : a.dimension > b.dimension ? 1 : 0),
  );
  const customers = [...new Set(all.map((g) => identityKey(g.identity)))].sort();
  if (query.customer && !customers.includes(query.customer)) customers.unshift(query.customer);
  const dimensions = [...new Set(all.map((g) => g.dimension))].sort();
  const grains = query.dimension ? all.filter((g) => g.dimension === query.dimension) : all;
  const who = query.customer ? customerLabel(identityFromKey(query.customer)) : "All customers";
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><meta name="robots" content="noindex">
<title>${view.title}: ${who}</title><style>${new Html(USAGE_CSS)}</style></head>
<body><main>
<h1>${view.title}: ${who}</h1>
<p>${formatDay(query.from)} to ${formatDay(query.to - 86_400_000)}, UTC hours. Read-only.${query.customer ? html` <a href="${link(query, { customer: "" })}">All customers</a>` : ""}</p>
${view.truncated ? html`<p role="status">Only the first ${PAGE_LIMIT.toLocaleString("en-US")} hours are shown; choose a shorter period or one customer.</p>` : ""}
${form(view, customers, dimensions)}
${query.customer ? customerView(view, grains) : overview(view, grains)}
</main></body></html>`.value;
}
