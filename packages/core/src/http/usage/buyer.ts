/**
 * The buyer's own usage: the calling customer (resolved by the same `getCustomer` as metering) and
 * nobody else, by dimension and hour, this month and last month, sent to AWS vs still open.
 */
import type { AccessDecision } from "../../access/index.js";
import { MarketplaceError } from "../../errors/index.js";
import type { Identity } from "../../identity/index.js";
import type { AccessSubject } from "../../lifecycle/index.js";
import type { GrainReport } from "../../marketplace/index.js";
import type { Logger } from "../../runtime/index.js";
import { isTenant, subjectOf } from "../customer.js";
import type { Awaitable } from "../metering.js";
import { problem } from "../problem.js";
import { httpSettingsOf } from "../settings.js";
import type { CustomerRef, HttpResult } from "../types.js";
import { html } from "./html.js";
import type { UsageTarget } from "./page.js";
import { forMethod, methodRefusal, queryOf, refuse, type UsageRequest, usageHeaders } from "./respond.js";
import { addGrain, emptyTotals, type Standing, standingOf, type UsageTotals } from "./tally.js";

/** What the buyer route needs: usage, and the directory for tenant customers. */
export interface BuyerUsageTarget extends UsageTarget {
  access?(subject: AccessSubject): AccessDecision;
}

/** One hour of one dimension. */
export interface BuyerUsageHour {
  /** Start of the UTC hour, ISO 8601. */
  hour: string;
  quantity: number;
  standing: Standing;
}

/** One dimension in one month. */
export interface BuyerUsageDimension extends UsageTotals {
  dimension: string;
  hours: BuyerUsageHour[];
}

/** One calendar month (UTC). */
export interface BuyerUsageMonth {
  /** `YYYY-MM` */
  month: string;
  dimensions: BuyerUsageDimension[];
}

/** The calling customer's usage: the current month first, then last month. */
export interface BuyerUsage {
  productCode: string;
  months: BuyerUsageMonth[];
}

/** Options of the buyer route, the same in every adapter. */
export interface BuyerUsageOptions<A extends unknown[]> {
  /**
   * Who is asking; the answer is only ever this customer's usage (query parameters and bodies are not read).
   * @default the `getCustomer` declared on the adapter's `createMarketplace`
   */
  getCustomer?: (...args: A) => Awaitable<CustomerRef>;
  /** @default the marketplace's logger */
  logger?: Logger;
  /** @default the marketplace's clock */
  clock?: () => number;
}

/** A configured buyer route; never rejects. `?format=html` answers the embeddable fragment. */
export type BuyerUsageRoute<A extends unknown[]> = (request: UsageRequest<A>) => Promise<HttpResult>;

/** At most this many hours are read for one buyer: 62 days x 24 hours x 33 dimensions. */
const BUYER_LIMIT = 50_000;

function monthStart(t: number, back = 0): number {
  const d = new Date(t);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() - back, 1);
}

/** Groups a customer's grains into months (current, then last) and dimensions. */
export function summarizeBuyerUsage(
  identity: Identity,
  grains: readonly GrainReport[],
  now: number,
): BuyerUsage {
  const months: BuyerUsageMonth[] = [0, 1].map((back) => ({
    month: new Date(monthStart(now, back)).toISOString().slice(0, 7),
    dimensions: [],
  }));
  const sorted = [...grains].sort((a, b) => a.hour.getTime() - b.hour.getTime());
  for (const g of sorted) {
    const month = months.find((m) => m.month === g.hour.toISOString().slice(0, 7));
    if (!month) continue;
    let d = month.dimensions.find((x) => x.dimension === g.dimension);
    if (!d) month.dimensions.push((d = { dimension: g.dimension, ...emptyTotals(), hours: [] }));
    addGrain(d, g);
    d.hours.push({ hour: g.hour.toISOString(), quantity: g.quantity, standing: standingOf(g.state) });
  }
  for (const m of months) m.dimensions.sort((a, b) => (a.dimension < b.dimension ? -1 : 1));
  return { productCode: identity.productCode, months };
}

const MONTH_NAME = new Intl.DateTimeFormat("en-US", { month: "long", year: "numeric", timeZone: "UTC" });

/**
 * A small HTML fragment (no styles, no scripts) an app embeds in its account page: one table per month
 * with sent, open and total units per dimension.
 *
 * @example
 * res.send(`<main>${buyerUsageFragment(usage)}</main>`)
 */
export function buyerUsageFragment(usage: BuyerUsage): string {
  return html`<section class="marketmeter-usage" aria-label="Your metered usage">
${usage.months.map((m) => {
  const name = MONTH_NAME.format(new Date(`${m.month}-01T00:00:00Z`));
  if (m.dimensions.length === 0) return html`<p>No metered usage in ${name}.</p>`;
  return html`<table><caption>Metered usage in ${name} (UTC)</caption>
<thead><tr><th scope="col">Dimension</th><th scope="col">Sent to AWS</th><th scope="col">Not yet sent</th><th scope="col">Total</th></tr></thead>
<tbody>${m.dimensions.map((d) => html`<tr><th scope="row">${d.dimension}</th><td>${d.sent}</td><td>${d.open}</td><td>${d.recorded}</td></tr>`)}</tbody></table>`;
})}
</section>`.value;
}

/**
 * Builds the buyer's own-usage route. Throws `INVALID_CONFIG` without a `getCustomer` (here or on the
 * adapter's `createMarketplace`). Anonymous requests get 401; a tenant without a subscription 404.
 *
 * @example
 * const route = createBuyerUsage(marketplace, {})
 * const result = await route({ method, url, headers, remoteAddress, args: [req] })
 */
export function createBuyerUsage<A extends unknown[]>(
  marketplace: BuyerUsageTarget,
  options: BuyerUsageOptions<A> = {},
): BuyerUsageRoute<A> {
  if (typeof marketplace !== "object" || marketplace === null || typeof marketplace.report !== "function")
    throw new MarketplaceError(
      "INVALID_CONFIG",
      "the buyer usage route needs a marketplace instance (report())",
    );
  if (options === undefined) options = {};
  if (typeof options !== "object" || options === null)
    throw new MarketplaceError("INVALID_CONFIG", "buyer usage options must be an object");
  const settings = httpSettingsOf(marketplace);
  const getCustomer = (options.getCustomer ?? settings.getCustomer) as BuyerUsageOptions<A>["getCustomer"];
  if (typeof getCustomer !== "function")
    throw new MarketplaceError(
      "INVALID_CONFIG",
      "the buyer usage route needs getCustomer: pass it here or once to createMarketplace({ getCustomer })",
    );
  const logger = options.logger ?? settings.logger;
  const clock = options.clock ?? settings.clock ?? Date.now;

  const identityOf = (customer: CustomerRef): Identity | undefined | "unknown" => {
    const subject = subjectOf(customer);
    if (subject === undefined) return undefined;
    if (!isTenant(subject)) return subject as Identity;
    if (typeof marketplace.access !== "function")
      throw new MarketplaceError(
        "INVALID_CONFIG",
        "getCustomer returned a tenant, but this marketplace has no customer directory",
      );
    const decision = marketplace.access(subject);
    // A cancelled buyer still sees what was billed: the directory record keeps the identity.
    if (decision.allowed) return decision.identity;
    return decision.customer?.identity ?? "unknown";
  };

  return async (request) => {
    const refused = methodRefusal(request);
    if (refused) return refused;
    const { headers } = request;
    const asHtml = new URLSearchParams(queryOf(request.url)).get("format") === "html";
    try {
      const identity = identityOf(await getCustomer(...request.args));
      if (identity === undefined)
        return refuse(headers, problem(401, "no-customer", "Sign in to see your usage."), {
          "www-authenticate": "Bearer",
        });
      if (identity === "unknown")
        return refuse(
          headers,
          problem(404, "no-subscription", "This account has no AWS Marketplace subscription."),
        );
      const now = clock();
      const grains = await marketplace.report({
        identity,
        from: monthStart(now, 1),
        to: monthStart(now, -1),
        // Two months of hours for every dimension (the report's default of 10,000 could cut them).
        limit: BUYER_LIMIT,
      });
      const usage = summarizeBuyerUsage(identity, grains, now);
      const result: HttpResult = asHtml
        ? { status: 200, headers: usageHeaders("text/html; charset=utf-8"), body: buyerUsageFragment(usage) }
        : {
            status: 200,
            headers: usageHeaders("application/json; charset=utf-8"),
            body: JSON.stringify(usage),
          };
      return forMethod(request.method, result);
    } catch (err) {
      logger?.warn(
        { error: err instanceof Error ? err.message : String(err) },
        "marketmeter: buyer usage failed",
      );
      return refuse(headers, problem(503, "usage-unavailable", "Usage could not be read; please retry."), {
        "retry-after": "5",
      });
    }
  };
}
