// Public API of @marketmeter/core. Each concern has its own folder with an index.ts front door.
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
export { systemClock, silentLogger, hourStart, HOUR_MS } from "./runtime/index.js";
export type { Clock, Logger } from "./runtime/index.js";
export { createAwsClients, parseAwsOptions } from "./aws/index.js";
export type { AwsClients, AwsCredentials, AwsOptions } from "./aws/index.js";
// Usage metering: the marketplace instance, stores, usage and reporter.
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
export {
  memoryStore,
  GRAIN_STATES,
  MAX_QUANTITY,
  isTerminalState,
  grainKey,
  parseGrainKey,
  applyAdd,
  applyClaim,
  applyRelease,
  applySettle,
  holdsLease,
  compareForClaim,
  isClaimable,
  matchesQuery,
  mergeAllocations,
  splitDelta,
  newGrain,
} from "./stores/index.js";
export type {
  AddContext,
  AddResult,
  CarryForward,
  ClaimOptions,
  CloseGrainsFilter,
  GrainAccess,
  GrainLease,
  GrainOutcome,
  GrainState,
  ListQuery,
  MemoryStoreOptions,
  SettleResult,
  StoredGrain,
  UsageDelta,
  UsageStore,
} from "./stores/index.js";
export { acceptanceDeadline, isAcceptable, tagSetKey, MAX_ALLOCATIONS, MAX_TAGS } from "./usage/index.js";
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
export {
  Directory,
  memoryDirectoryStore,
  parseCustomerRecord,
  parseStoredRegistration,
} from "./directory/index.js";
export type {
  ClaimResult,
  CustomerRecord,
  CustomerStatus,
  DirectoryStore,
  Entitlement,
  EntitlementSnapshot,
  MemoryDirectoryStoreOptions,
  Registration,
  StoredRegistration,
} from "./directory/index.js";
export { parseRegistrationForm } from "./registration/index.js";
export type { IncomingRequest, RegistrationForm, RequestHeaders } from "./registration/index.js";
export { activeEntitlements } from "./entitlements/index.js";
export { DENIAL_HTTP_STATUS } from "./access/index.js";
export type { AccessAllowed, AccessDecision, AccessDenialReason, AccessDenied } from "./access/index.js";
export { createSnsVerifier, parseSnsEnvelope, snsStringToSign } from "./sns/index.js";
export type { FetchLike, SnsEnvelope, SnsTopicOwner, SnsVerifier, SnsVerifierOptions } from "./sns/index.js";
// Framework-free HTTP layer shared by the web-framework adapters (namespaced; `closeOnShutdown` is for everyone).
export * as http from "./http/index.js";
export { closeOnShutdown } from "./http/index.js";
export type { CloseOnShutdownOptions, CustomerRef, Problem } from "./http/index.js";
