/**
 * `@marketmeter/nestjs`: AWS Marketplace usage metering for NestJS. Re-exports the core's API, so one
 * package is enough.
 */
// The core's user-facing API, re-exported so an app installs one package; adapter-author and
// store-author names stay in `@marketmeter/core/http` and `@marketmeter/core/store`.

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
export {
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
  MarketplaceError,
  memoryDirectoryStore,
  memoryStore,
  parseIdentity,
  silentLogger,
} from "@marketmeter/core";
export type { RequireSubscriptionOptions } from "./decorators.js";
export { Meter, MeterInterceptor, RequireSubscription, SkipMetering, Subscription } from "./decorators.js";
export type { MarketplaceModuleAsyncOptions } from "./marketplace.module.js";
export { MarketplaceModule } from "./marketplace.module.js";
export { MarketplaceService } from "./marketplace.service.js";
export type {
  MarketplaceModuleDefinition,
  MarketplaceModuleOptions,
  MarketplaceRoutes,
  MeterQuantity,
} from "./options.js";
export {
  getSubscription,
  PROBLEM_CONTENT_TYPE,
  SubscriptionGuard,
  SubscriptionProblemFilter,
  SubscriptionRequiredException,
} from "./subscription.guard.js";
