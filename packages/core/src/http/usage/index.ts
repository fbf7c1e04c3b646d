/** The usage views: the seller's page (every customer, authorized) and each buyer's own usage. */

export type {
  BuyerUsage,
  BuyerUsageDimension,
  BuyerUsageHour,
  BuyerUsageMonth,
  BuyerUsageOptions,
  BuyerUsageRoute,
  BuyerUsageTarget,
} from "./buyer.js";
export { buyerUsageFragment, createBuyerUsage, summarizeBuyerUsage } from "./buyer.js";
export type { UsagePage, UsagePageOptions, UsagePageView, UsageTarget } from "./page.js";
export { createUsagePage, renderUsagePage } from "./page.js";
export type { UsagePageQuery } from "./query.js";
export { parseUsagePageQuery } from "./query.js";
export type { UsageRequest } from "./respond.js";
export { isLoopback, USAGE_CSP } from "./respond.js";
export type { Standing, UsageTotals } from "./tally.js";
