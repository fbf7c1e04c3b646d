// Front door of the marketplace concern: the instance users create.
export { createMarketplace } from "./marketplace.js";
export type { GrainReport, Marketplace, MarketplaceStats, ReportQuery } from "./marketplace.js";
export { resolveOptions } from "./options.js";
export type { MarketplaceOptions, ProductConfig, ResolvedOptions, ZeroRecordsOptions } from "./options.js";
