// Main entry of @marketmeter/core: what an app author uses. What only adapter authors need is in
// `@marketmeter/core/http` (./http.ts), what only store authors need in `@marketmeter/core/store` (./store.ts).
// Usage metering is `createMarketplace` with its default `memoryStore`; the buyer lifecycle (registration,
// customer directory, notifications, entitlements, access) is `createBuyers`.

export type { AccessAllowed, AccessDecision, AccessDenialReason, AccessDenied } from "./access/index.js";
export type { AwsClients, AwsCredentials, AwsOptions } from "./aws/index.js";
export { createAwsClients } from "./aws/index.js";
export type {
  AgentCoreMetering,
  DeploymentInfo,
  DeploymentMarketplace,
  DeploymentMode,
  DeploymentOptions,
  EmulatedPlatform,
  RegistrationClaims,
  ResolveRegionOptions,
} from "./deployment/index.js";
export { createDeployment, deploymentRegion, resolveDeploymentRegion } from "./deployment/index.js";
export type {
  CustomerRecord,
  CustomerStatus,
  DirectoryStore,
  Entitlement,
  MemoryDirectoryStoreOptions,
  Registration,
} from "./directory/index.js";
export { memoryDirectoryStore } from "./directory/index.js";
export { activeEntitlements } from "./entitlements/index.js";
export type { MarketplaceErrorCode, MarketplaceErrorOptions } from "./errors/index.js";
export { isMarketplaceError, MarketplaceError } from "./errors/index.js";
export type { CloseOnShutdownOptions, CustomerRef, Problem } from "./http/index.js";
export { closeOnShutdown } from "./http/index.js";
export type {
  AccountIdentity,
  Identity,
  IdentityInput,
  IdentityMode,
  LegacyIdentity,
  LicenseIdentity,
} from "./identity/index.js";
export {
  identityFromKey,
  identityKey,
  identityMode,
  isValidAccountId,
  isValidLicenseArn,
  isValidProductCode,
  licenseIdOf,
  parseIdentity,
} from "./identity/index.js";
export type {
  AccessSubject,
  BuyerProduct,
  Buyers,
  BuyersOptions,
  LifecycleAction,
  LifecycleEvent,
  LifecycleOutcome,
} from "./lifecycle/index.js";
export { createBuyers } from "./lifecycle/index.js";
export type {
  FlushOptions,
  GrainReport,
  Marketplace,
  MarketplaceOptions,
  MarketplaceStats,
  ProductConfig,
  ReportQuery,
  ZeroRecordsOptions,
} from "./marketplace/index.js";
export { createMarketplace } from "./marketplace/index.js";
export type { MetricsOptions } from "./metrics/index.js";
export type { IncomingRequest, RequestHeaders } from "./registration/index.js";
export type { GrainInfo, MarketplaceEventName, MarketplaceEvents } from "./reporter/index.js";
export type { Clock, Logger } from "./runtime/index.js";
export { silentLogger } from "./runtime/index.js";
export type { SnsTopicOwner } from "./sns/index.js";
export type {
  GrainOutcome,
  GrainState,
  MemoryStoreOptions,
  StoredGrain,
  UsageStore,
} from "./stores/index.js";
export { memoryStore } from "./stores/index.js";
export type { Allocation, Tags, UsageInput } from "./usage/index.js";
