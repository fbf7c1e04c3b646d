// Entry `@marketmeter/core/store`: what people who write a usage store or a directory store need: the
// grain rules every store applies the same way, the hour arithmetic, and the conformance suites.

export type {
  DirectoryConformanceHarness,
  DirectoryConformanceTarget,
} from "./directory/conformance.js";
export {
  directoryStoreConformance,
  sampleCustomer,
  sampleLicenseEvent,
  sampleRegistration,
} from "./directory/conformance.js";
export type {
  ClaimResult,
  CustomerChanges,
  CustomerRecord,
  CustomerStatus,
  DirectoryStore,
  Entitlement,
  EntitlementSnapshot,
  Registration,
  StoredRegistration,
} from "./directory/index.js";
export { Directory, parseCustomerRecord, parseStoredRegistration } from "./directory/index.js";
export type { Clock } from "./runtime/index.js";
export { HOUR_MS, hourStart, systemClock } from "./runtime/index.js";
export type { ConformanceRunner, StoreConformanceTarget } from "./stores/conformance.js";
export { storeConformance } from "./stores/conformance.js";
export type {
  AddContext,
  AddResult,
  CarryForward,
  CheckpointId,
  ClaimOptions,
  CloseGrainsFilter,
  GrainAccess,
  GrainLease,
  GrainOutcome,
  GrainState,
  ListQuery,
  SendTokenOptions,
  SettleResult,
  StoredGrain,
  TokenBucketState,
  UsageDelta,
  UsageStore,
} from "./stores/index.js";
export {
  applyAdd,
  applyClaim,
  applyRelease,
  applySettle,
  CHECKPOINT_RETENTION_MS,
  checkCheckpoint,
  checkSendToken,
  compareForClaim,
  GRAIN_STATES,
  grainKey,
  holdsLease,
  isAppliedCheckpoint,
  isClaimable,
  isTerminalState,
  MAX_QUANTITY,
  matchesQuery,
  mergeAllocations,
  newGrain,
  parseGrainKey,
  splitDelta,
  takeToken,
} from "./stores/index.js";
export type { Allocation, Tags } from "./usage/index.js";
export { acceptanceDeadline, isAcceptable, MAX_ALLOCATIONS, MAX_TAGS, tagSetKey } from "./usage/index.js";
