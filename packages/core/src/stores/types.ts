/**
 * The store contract. A store keeps hour grains durably (or not, for the memory store) and is the only
 * shared state between processes. Every method is atomic on its own, so a shared store (Redis,
 * PostgreSQL, one SQLite file used by several processes) keeps these guarantees:
 * - usage added to a grain that is no longer open moves to the open hour in the same atomic step;
 * - a closed grain's quantity never changes again (any resend is identical);
 * - a grain is held by at most one sender at a time (a lease with owner, expiry and fencing token);
 * - only the current holder, inside its lease, writes an outcome: a sender whose lease ran out (or was
 *   taken over) can neither settle nor release the grain.
 */

/**
 * Where a grain is in its life:
 * - `pending`: open, still accumulating usage;
 * - `closed`: final (hour over + grace, or locked by a final flush), waiting to be sent;
 * - `retrying`: an attempt failed transiently; `nextAttemptAt` says when to try again;
 * - `sent`: AWS accepted it (`meteringRecordId` when AWS returned one);
 * - `rejected`: AWS refused it for good (`reason`, e.g. CustomerNotSubscribed);
 * - `expired`: it can no longer be accepted (24 h window or month-end cut-off) and AWS never had it;
 * - `uncertain`: the window passed after an attempt whose answer was lost: AWS may or may not have
 *   billed it (`reason` says what to check in the seller reports).
 */
export type GrainState = "pending" | "closed" | "retrying" | "sent" | "rejected" | "expired" | "uncertain";

export const GRAIN_STATES: readonly GrainState[] = [
  "pending",
  "closed",
  "retrying",
  "sent",
  "rejected",
  "expired",
  "uncertain",
];

/** Terminal states: nothing will ever be sent for the grain again. */
export function isTerminalState(state: GrainState): boolean {
  return state === "sent" || state === "rejected" || state === "expired" || state === "uncertain";
}

/** Usage to add to one grain. */
export interface UsageDelta {
  /** `identityKey(identity)` of the buyer. */
  identityKey: string;
  dimension: string;
  /** Start of the UTC hour, epoch milliseconds. */
  hour: number;
  /** Non-negative safe integer. */
  quantity: number;
  /**
   * Per tag set quantities (key: canonical tag-set key, `""` = untagged). When present the values sum
   * to `quantity`.
   */
  allocations?: Record<string, number>;
  /**
   * Create the grain with quantity 0 when it does not exist, even for an hour that is already final;
   * never carried forward. Used for zero records of known active customers.
   */
  ensure?: boolean;
}

/** Time context of an `add`. */
export interface AddContext {
  /** Current time, epoch ms. */
  now: number;
  /** Hours before this one are final: usage for them that has no pending grain is carried forward. */
  openFrom: number;
  /** The open hour that receives carried-forward usage (normally the current hour). */
  carryTo: number;
  /**
   * Makes the add idempotent: the writing instance (random per process start) and its strictly increasing
   * sequence number. A store that already applied this `seq` (or a later one) of `instance` adds nothing
   * and answers `duplicate: true`, so a batch retried after an ambiguous failure counts once.
   */
  checkpoint?: CheckpointId;
}

/** Who wrote an add: a process start (`instance`) and its batch number (`seq`, a positive safe integer). */
export interface CheckpointId {
  instance: string;
  seq: number;
}

/** Usage that did not land in the hour it was recorded for. */
export interface CarryForward {
  identityKey: string;
  dimension: string;
  fromHour: number;
  toHour: number;
  quantity: number;
  /** `closed`: the hour was already final or locked; `int32`: the grain was full (2,147,483,647). */
  reason: "closed" | "int32";
}

export interface AddResult {
  carried: CarryForward[];
  /** True when the store had already applied this checkpoint (instance, seq): nothing was added. */
  duplicate?: boolean;
}

/** Parameters of a shared token bucket (see {@link UsageStore.takeSendToken}). */
export interface SendTokenOptions {
  /** Tokens added per second (> 0). */
  ratePerSecond: number;
  /** Most tokens the bucket holds (>= 1); a full bucket allows this many calls at once. */
  burst: number;
}

/** One grain as the store holds it. */
export interface StoredGrain {
  key: string;
  identityKey: string;
  dimension: string;
  hour: number;
  quantity: number;
  allocations?: Record<string, number>;
  state: GrainState;
  /** Completed attempts that did not settle the grain. */
  attempts: number;
  nextAttemptAt?: number;
  leaseOwner?: string;
  leaseUntil?: number;
  /**
   * Fencing token: incremented by every claim (0 before the first). Outcomes and releases carry the
   * token of their claim, so a sender that lost the grain cannot write over its new holder.
   */
  leaseToken: number;
  /**
   * True once an attempt may have reached AWS without us learning the outcome (timeout, 5xx, crash
   * while holding the lease). A later `DuplicateRecord` is then our own earlier write.
   */
  uncertain: boolean;
  meteringRecordId?: string;
  reason?: string;
  lastError?: string;
  createdAt: number;
  updatedAt: number;
  closedAt?: number;
  settledAt?: number;
}

export interface CloseGrainsFilter {
  /** Close pending grains whose hour is before this one. */
  hourBefore: number;
  /** Only this buyer's grains (final metering). */
  identityKey?: string;
  now: number;
}

export interface ClaimOptions {
  /** Who sends: the lease owner. */
  owner: string;
  now: number;
  /** Lease length; an expired lease can be claimed again. */
  leaseMs: number;
  /** Maximum number of grains to claim. */
  limit: number;
  /** Only this buyer's grains. */
  identityKey?: string;
  /** Claim retrying grains even when their next attempt time has not come (final flush). */
  ignoreBackoff?: boolean;
}

/** A claimed grain as its holder names it: key and the fencing token of the claim. */
export interface GrainLease {
  key: string;
  leaseToken: number;
}

/**
 * The result of an attempt, written back by the holder of the lease with the token of its claim.
 * `uncertain` is terminal: the window passed after an attempt whose answer was lost.
 */
export type GrainOutcome =
  | { key: string; leaseToken: number; state: "sent"; meteringRecordId?: string; reason?: string }
  | { key: string; leaseToken: number; state: "rejected"; reason: string }
  | { key: string; leaseToken: number; state: "expired"; reason: string }
  | { key: string; leaseToken: number; state: "uncertain"; reason: string }
  | {
      key: string;
      leaseToken: number;
      state: "retrying";
      nextAttemptAt: number;
      error: string;
      uncertain: boolean;
    };

/** What a settle wrote. */
export interface SettleResult {
  /** Outcomes written. */
  applied: number;
  /**
   * Keys of the outcomes not written, in order: the sender no longer holds the lease (expired at `now`,
   * or claimed since by someone else), the grain is already terminal, or it does not exist.
   */
  refused: string[];
}

export interface ListQuery {
  /** Inclusive, epoch ms hour start. */
  hourFrom?: number;
  /** Exclusive. */
  hourTo?: number;
  states?: readonly GrainState[];
  identityKey?: string;
  /** @default 10000 */
  limit?: number;
}

/**
 * A durable (or not) home for hour grains. Implementations: `memoryStore()` in core,
 * `sqliteStore()` in `@marketmeter/sqlite`. Check a new implementation with the conformance suite in
 * `@marketmeter/core/store`.
 */
export interface UsageStore {
  /** A short name for logs ("memory", "sqlite", …). */
  readonly kind: string;
  /** False when a process crash or restart loses the data (the memory store). */
  readonly durable: boolean;
  /** Adds usage atomically (all deltas or none), carrying usage for non-open grains forward. */
  add(deltas: readonly UsageDelta[], ctx: AddContext): Promise<AddResult>;
  /** Atomically freezes matching pending grains (state `closed`); returns how many. */
  closeGrains(filter: CloseGrainsFilter): Promise<number>;
  /**
   * Atomically leases closed/retrying grains that are due, oldest hour first. Each claim increments the
   * grain's `leaseToken`; a grain whose previous lease ran out without a settle comes back `uncertain`
   * (its holder may have sent it).
   */
  claim(options: ClaimOptions): Promise<StoredGrain[]>;
  /**
   * Writes attempt results, each atomically with its check: an outcome applies only when `owner` holds
   * the grain with the outcome's `leaseToken` and the lease has not expired at `now` (`now < leaseUntil`),
   * and the grain is not terminal yet. Clears the lease. Refused outcomes are listed, never dropped
   * silently.
   */
  settle(outcomes: readonly GrainOutcome[], ctx: { owner: string; now: number }): Promise<SettleResult>;
  /**
   * Gives back leased grains that were not attempted (owner and token must match: a grain claimed by
   * someone else since stays theirs). Returns how many were released.
   */
  release(leases: readonly GrainLease[], owner: string): Promise<number>;
  get(key: string): Promise<StoredGrain | undefined>;
  /** Grains ordered by hour, then key. */
  list(query?: ListQuery): Promise<StoredGrain[]>;
  counts(): Promise<Record<GrainState, number>>;
  /**
   * Optional global pacing shared by every instance using the store: takes one token from `bucket` (a
   * token bucket refilled at `ratePerSecond` up to `burst`, on the store's own clock, so instance clock
   * skew does not matter). Returns 0 when a token was taken, else the milliseconds to wait before asking
   * again.
   */
  takeSendToken?(bucket: string, o: SendTokenOptions): Promise<number>;
  close(): Promise<void>;
}
