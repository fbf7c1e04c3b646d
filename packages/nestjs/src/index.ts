/**
 * `@marketmeter/nestjs`: AWS Marketplace usage metering for NestJS. Re-exports the whole core API, so
 * one package is enough.
 */
export * from "@marketmeter/core";
export { MarketplaceModule } from "./marketplace.module.js";
export type { MarketplaceModuleAsyncOptions, MarketplaceModuleDefinition } from "./marketplace.module.js";
export { MarketplaceService } from "./marketplace.service.js";
export {
  Meter,
  SkipMetering,
  RequireSubscription,
  MeterGuard,
  MeterResultInterceptor,
} from "./decorators.js";
export { SubscriptionGuard, getAccess } from "./subscription.guard.js";
export { SubscriptionRequiredException, SubscriptionProblemFilter, PROBLEM_CONTENT_TYPE } from "./problem.js";
export { MARKETPLACE, MARKETPLACE_OPTIONS } from "./constants.js";
export type {
  MarketplaceInstance,
  MarketplaceModuleOptions,
  MarketplaceRoutes,
  MeterQuantity,
} from "./options.js";
