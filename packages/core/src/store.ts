// Entry `@marketmeter/core/store`: what people who write a usage store or a directory store need: the
// grain rules every store applies the same way, the hour arithmetic, and the conformance suites.
export { systemClock, hourStart, HOUR_MS } from "./runtime/index.js";
export type { Clock } from "./runtime/index.js";
export {
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
  SettleResult,
  StoredGrain,
  UsageDelta,
  UsageStore,
} from "./stores/index.js";
export { acceptanceDeadline, isAcceptable, tagSetKey, MAX_ALLOCATIONS, MAX_TAGS } from "./usage/index.js";
export type { Allocation, Tags } from "./usage/index.js";
export { Directory, parseCustomerRecord, parseStoredRegistration } from "./directory/index.js";
export type {
  ClaimResult,
  CustomerRecord,
  CustomerStatus,
  DirectoryStore,
  Entitlement,
  EntitlementSnapshot,
  Registration,
  StoredRegistration,
} from "./directory/index.js";
export { storeConformance } from "./stores/conformance.js";
export type { StoreConformanceTarget } from "./stores/conformance.js";
export { directoryStoreConformance, sampleCustomer, sampleRegistration } from "./directory/conformance.js";
