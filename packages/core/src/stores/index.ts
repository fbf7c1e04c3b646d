// Front door of the stores concern: the store contract, the in-memory default and the grain rules
// every store implementation shares.
export { memoryStore } from "./memory.js";
export type { MemoryStoreOptions } from "./memory.js";
export {
  MAX_QUANTITY,
  grainKey,
  parseGrainKey,
  mergeAllocations,
  splitDelta,
  applyAdd,
  applyClaim,
  applyRelease,
  applySettle,
  holdsLease,
  compareForClaim,
  isClaimable,
  matchesQuery,
  newGrain,
} from "./grain.js";
export type { GrainAccess } from "./grain.js";
export { GRAIN_STATES, isTerminalState } from "./types.js";
export type {
  AddContext,
  AddResult,
  CarryForward,
  ClaimOptions,
  CloseGrainsFilter,
  GrainLease,
  GrainOutcome,
  GrainState,
  ListQuery,
  SettleResult,
  StoredGrain,
  UsageDelta,
  UsageStore,
} from "./types.js";
