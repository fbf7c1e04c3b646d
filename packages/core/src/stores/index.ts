// Front door of the stores concern: the store contract, the in-memory default and the grain rules
// every store implementation shares.

export type { GrainAccess } from "./grain.js";
export {
  applyAdd,
  applyClaim,
  applyRelease,
  applySettle,
  compareForClaim,
  grainKey,
  holdsLease,
  isClaimable,
  MAX_QUANTITY,
  matchesQuery,
  mergeAllocations,
  newGrain,
  parseGrainKey,
  splitDelta,
} from "./grain.js";
export type { MemoryStoreOptions } from "./memory.js";
export { memoryStore } from "./memory.js";
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
export { GRAIN_STATES, isTerminalState } from "./types.js";
