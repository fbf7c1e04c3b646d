// Front door of the marketplace concern: the instance users create.

export type {
  FlushOptions,
  GrainReport,
  Marketplace,
  MarketplaceInternals,
  MarketplaceStats,
  ReportQuery,
} from "./marketplace.js";
export { createMarketplace, createMarketplaceWith } from "./marketplace.js";
export type { MarketplaceOptions, ProductConfig, ResolvedOptions, ZeroRecordsOptions } from "./options.js";
export { resolveOptions } from "./options.js";
