/**
 * `@marketmeter/nestjs`: AWS Marketplace usage metering for NestJS. Re-exports the core's user-facing
 * API, so one package is enough.
 */
// The core's user-facing API, re-exported so an app installs one package; adapter-author and
// store-author names stay in `@marketmeter/core/http` and `@marketmeter/core/store`.
export {
  MarketplaceError,
  activeEntitlements,
  closeOnShutdown,
  createAwsClients,
  createBuyers,
  createMarketplace,
  identityFromKey,
  identityKey,
  identityMode,
  isMarketplaceError,
  isValidAccountId,
  isValidLicenseArn,
  isValidProductCode,
  licenseIdOf,
  memoryDirectoryStore,
  memoryStore,
  parseIdentity,
  silentLogger,
} from "@marketmeter/core";
export type {
  AccessAllowed,
  AccessDecision,
  AccessDenialReason,
  AccessDenied,
  AccessSubject,
  AccountIdentity,
  Allocation,
  AwsClients,
  AwsCredentials,
  AwsOptions,
  BuyerProduct,
  Buyers,
  BuyersOptions,
  Clock,
  CloseOnShutdownOptions,
  CustomerRecord,
  CustomerRef,
  CustomerStatus,
  DirectoryStore,
  Entitlement,
  GrainInfo,
  GrainOutcome,
  GrainReport,
  GrainState,
  Identity,
  IdentityInput,
  IdentityMode,
  IncomingRequest,
  LegacyIdentity,
  LicenseIdentity,
  LifecycleAction,
  LifecycleEvent,
  LifecycleOutcome,
  Logger,
  Marketplace,
  MarketplaceErrorCode,
  MarketplaceErrorOptions,
  MarketplaceEventName,
  MarketplaceEvents,
  MarketplaceOptions,
  MarketplaceStats,
  MemoryDirectoryStoreOptions,
  MemoryStoreOptions,
  Problem,
  ProductConfig,
  Registration,
  ReportQuery,
  RequestHeaders,
  SnsTopicOwner,
  StoredGrain,
  Tags,
  UsageInput,
  UsageStore,
  ZeroRecordsOptions,
} from "@marketmeter/core";
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
