/**
 * `@marketmeter/nestjs`: AWS Marketplace usage metering for NestJS. Re-exports the core's API, so one
 * package is enough.
 */
export * from "@marketmeter/core";
export { MarketplaceModule } from "./marketplace.module.js";
export type { MarketplaceModuleAsyncOptions } from "./marketplace.module.js";
export { MarketplaceService } from "./marketplace.service.js";
export { Meter, SkipMetering, RequireSubscription, Subscription, MeterInterceptor } from "./decorators.js";
export type { RequireSubscriptionOptions } from "./decorators.js";
export {
  SubscriptionGuard,
  getSubscription,
  SubscriptionRequiredException,
  SubscriptionProblemFilter,
  PROBLEM_CONTENT_TYPE,
} from "./subscription.guard.js";
export type {
  MarketplaceModuleDefinition,
  MarketplaceModuleOptions,
  MarketplaceRoutes,
  MeterQuantity,
} from "./options.js";
