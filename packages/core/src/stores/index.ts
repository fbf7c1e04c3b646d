// Front door of the stores concern: the store contract, the in-memory default and the grain rules
// every store implementation shares.

export type { GrainAccess, TokenBucketState } from "./grain.js";
export {
  applyAdd,
  applyClaim,
  applyRelease,
  applySettle,
  CHECKPOINT_RETENTION_MS,
  checkCheckpoint,
  checkSendToken,
  compareForClaim,
  grainKey,
  holdsLease,
  isAppliedCheckpoint,
  isClaimable,
  MAX_QUANTITY,
  matchesQuery,
  mergeAllocations,
  newGrain,
  parseGrainKey,
  splitDelta,
  takeToken,
} from "./grain.js";
export type { MemoryStoreOptions } from "./memory.js";
export { memoryStore } from "./memory.js";
export type {
  AddContext,
  AddResult,
  CarryForward,
  CheckpointId,
  ClaimOptions,
  CloseGrainsFilter,
  GrainLease,
  GrainOutcome,
  GrainState,
  ListQuery,
  SendTokenOptions,
  SettleResult,
  StoredGrain,
  UsageDelta,
  UsageStore,
} from "./types.js";
export { GRAIN_STATES, isTerminalState } from "./types.js";
