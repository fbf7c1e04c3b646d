// Front door of the marketplace concern: the instance users create.

export type { GrainReport, Marketplace, MarketplaceStats, ReportQuery } from "./marketplace.js";
export { createMarketplace } from "./marketplace.js";
export type { MarketplaceOptions, ProductConfig, ResolvedOptions, ZeroRecordsOptions } from "./options.js";
export { resolveOptions } from "./options.js";
