// Main entry of @marketmeter/core: what an app author uses. What only adapter authors need is in
// `@marketmeter/core/http` (./http.ts), what only store authors need in `@marketmeter/core/store` (./store.ts).
export { MarketplaceError, isMarketplaceError } from "./errors/index.js";
export type { MarketplaceErrorCode, MarketplaceErrorOptions } from "./errors/index.js";
export {
  parseIdentity,
  identityKey,
  identityFromKey,
  identityMode,
  isValidAccountId,
  isValidLicenseArn,
  isValidProductCode,
  licenseIdOf,
} from "./identity/index.js";
export type {
  Identity,
  IdentityInput,
  IdentityMode,
  LegacyIdentity,
  AccountIdentity,
  LicenseIdentity,
} from "./identity/index.js";
export { silentLogger } from "./runtime/index.js";
export type { Clock, Logger } from "./runtime/index.js";
export { createAwsClients } from "./aws/index.js";
export type { AwsClients, AwsCredentials, AwsOptions } from "./aws/index.js";
// Usage metering: the marketplace instance and its default store.
export { createMarketplace } from "./marketplace/index.js";
export type {
  GrainReport,
  Marketplace,
  MarketplaceOptions,
  MarketplaceStats,
  ProductConfig,
  ReportQuery,
  ZeroRecordsOptions,
} from "./marketplace/index.js";
export { memoryStore } from "./stores/index.js";
export type {
  GrainOutcome,
  GrainState,
  MemoryStoreOptions,
  StoredGrain,
  UsageStore,
} from "./stores/index.js";
export type { Allocation, Tags, UsageInput } from "./usage/index.js";
export type { GrainInfo, MarketplaceEventName, MarketplaceEvents } from "./reporter/index.js";
// Buyer lifecycle: registration, customer directory, lifecycle notifications, entitlements, access.
export { createBuyers } from "./lifecycle/index.js";
export type {
  AccessSubject,
  BuyerProduct,
  Buyers,
  BuyersOptions,
  LifecycleAction,
  LifecycleEvent,
  LifecycleOutcome,
} from "./lifecycle/index.js";
export { memoryDirectoryStore } from "./directory/index.js";
export type {
  CustomerRecord,
  CustomerStatus,
  DirectoryStore,
  Entitlement,
  MemoryDirectoryStoreOptions,
  Registration,
} from "./directory/index.js";
export type { IncomingRequest, RequestHeaders } from "./registration/index.js";
export { activeEntitlements } from "./entitlements/index.js";
export type { AccessAllowed, AccessDecision, AccessDenialReason, AccessDenied } from "./access/index.js";
export type { SnsTopicOwner } from "./sns/index.js";
export { closeOnShutdown } from "./http/index.js";
export type { CloseOnShutdownOptions, CustomerRef, Problem } from "./http/index.js";
