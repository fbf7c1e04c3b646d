/**
 * Grain arithmetic shared by every store: keys, allocation merging, int32 splitting and the carry-forward
 * rule. Stores that run their logic server-side (Lua, PL/pgSQL) must follow the same rules; stores that
 * can run JavaScript inside a transaction call {@link applyAdd} directly.
 */
import { MarketplaceError } from "../errors/index.js";
import { HOUR_MS } from "../runtime/index.js";
import type {
  AddContext,
  CarryForward,
  CheckpointId,
  GrainState,
  SendTokenOptions,
  StoredGrain,
  UsageDelta,
} from "./types.js";

/** Largest quantity AWS accepts in one usage record (UsageQuantity is an int32). */
export const MAX_QUANTITY = 2_147_483_647;

const SEP = "\u001f";

/** The store key of a grain. Dimensions are validated to contain no control characters. */
export function grainKey(identityKey: string, dimension: string, hour: number): string {
  return `${identityKey}${SEP}${dimension}${SEP}${hour}`;
}

/** Inverse of {@link grainKey}. */
export function parseGrainKey(key: string): { identityKey: string; dimension: string; hour: number } {
  const b = key.lastIndexOf(SEP);
  const a = key.lastIndexOf(SEP, b - 1);
  return { identityKey: key.slice(0, a), dimension: key.slice(a + 1, b), hour: Number(key.slice(b + 1)) };
}

/** Adds `b` into `a` (both tag-set → quantity maps), treating a missing map as all-untagged. */
export function mergeAllocations(
  aQuantity: number,
  a: Record<string, number> | undefined,
  bQuantity: number,
  b: Record<string, number> | undefined,
): Record<string, number> | undefined {
  if (!a && !b) return undefined;
  const out: Record<string, number> = a ? { ...a } : aQuantity > 0 ? { "": aQuantity } : {};
  const add = b ?? (bQuantity > 0 ? { "": bQuantity } : {});
  for (const [k, v] of Object.entries(add)) out[k] = (out[k] ?? 0) + v;
  return out;
}

/**
 * Splits a delta so that the head holds at most `capacity`; allocations are cut in key order so both
 * parts still sum to their quantity.
 */
export function splitDelta(delta: UsageDelta, capacity: number): [UsageDelta, UsageDelta] {
  const headQ = Math.max(0, Math.min(capacity, delta.quantity));
  const head: UsageDelta = { ...delta, quantity: headQ };
  const tail: UsageDelta = { ...delta, quantity: delta.quantity - headQ };
  if (delta.allocations) {
    const h: Record<string, number> = {};
    const t: Record<string, number> = {};
    let left = headQ;
    for (const [k, v] of Object.entries(delta.allocations).sort(([a], [b]) => (a < b ? -1 : 1))) {
      const take = Math.min(v, left);
      left -= take;
      if (take > 0) h[k] = take;
      if (v - take > 0) t[k] = v - take;
    }
    head.allocations = h;
    tail.allocations = t;
  }
  return [head, tail];
}

/** Synchronous row access inside one transaction. */
export interface GrainAccess {
  get(key: string): StoredGrain | undefined;
  put(grain: StoredGrain): void;
}

/** A fresh pending grain. */
export function newGrain(identityKey: string, dimension: string, hour: number, now: number): StoredGrain {
  return {
    key: grainKey(identityKey, dimension, hour),
    identityKey,
    dimension,
    hour,
    quantity: 0,
    state: "pending" satisfies GrainState,
    attempts: 0,
    leaseToken: 0,
    uncertain: false,
    createdAt: now,
    updatedAt: now,
  };
}

// A run of locked future hours longer than this means something is wrong; stop rather than loop.
const MAX_HOPS = 72;

/**
 * The add rule, applied inside a store transaction:
 * - a delta lands in its own hour when that grain is pending, or when it does not exist yet and the hour
 *   is not final (`hour >= openFrom`);
 * - otherwise (closed/sent/… grain, or a final hour with no grain) it moves to `carryTo`, or to the next
 *   hour whose grain is still open, and a `closed` carry is reported;
 * - a grain never passes {@link MAX_QUANTITY}: the excess moves to the next hour (`int32` carry).
 */
export function applyAdd(
  access: GrainAccess,
  deltas: readonly UsageDelta[],
  ctx: AddContext,
): CarryForward[] {
  const carried: CarryForward[] = [];
  for (const original of deltas) {
    if (original.ensure) {
      const key = grainKey(original.identityKey, original.dimension, original.hour);
      if (!access.get(key))
        access.put(newGrain(original.identityKey, original.dimension, original.hour, ctx.now));
      if (original.quantity === 0) continue;
    }
    if (original.quantity === 0 && !original.ensure) {
      // A zero record still creates the grain (it will be reported as 0) when its hour is open.
      const key = grainKey(original.identityKey, original.dimension, original.hour);
      if (!access.get(key) && original.hour >= ctx.openFrom)
        access.put(newGrain(original.identityKey, original.dimension, original.hour, ctx.now));
      continue;
    }
    let pending: UsageDelta | undefined = original;
    let reason: CarryForward["reason"] | undefined;
    let hour = original.hour;
    let hops = 0;
    while (pending && pending.quantity > 0) {
      if (hops++ > MAX_HOPS)
        throw new Error(`grain carry-forward did not find an open hour after ${MAX_HOPS} hops`);
      const key = grainKey(pending.identityKey, pending.dimension, hour);
      const row = access.get(key);
      const open = row ? row.state === "pending" : hour >= ctx.openFrom;
      if (!open) {
        reason ??= "closed";
        hour = hour < ctx.carryTo ? ctx.carryTo : hour + HOUR_MS;
        continue;
      }
      const grain = row ?? newGrain(pending.identityKey, pending.dimension, hour, ctx.now);
      const capacity = MAX_QUANTITY - grain.quantity;
      let head = pending;
      let tail: UsageDelta | undefined;
      if (pending.quantity > capacity) [head, tail] = splitDelta(pending, capacity);
      if (head.quantity > 0 || !row) {
        const allocations = mergeAllocations(
          grain.quantity,
          grain.allocations,
          head.quantity,
          head.allocations,
        );
        const next: StoredGrain = { ...grain, quantity: grain.quantity + head.quantity, updatedAt: ctx.now };
        if (allocations) next.allocations = allocations;
        access.put(next);
        if (reason && head.quantity > 0)
          carried.push({
            identityKey: pending.identityKey,
            dimension: pending.dimension,
            fromHour: original.hour,
            toHour: hour,
            quantity: head.quantity,
            reason,
          });
      }
      pending = tail && tail.quantity > 0 ? tail : undefined;
      if (pending) {
        reason = "int32";
        hour += HOUR_MS;
      }
    }
  }
  return carried;
}

/** Whether a claim may take this grain now. */
export function isClaimable(
  g: StoredGrain,
  now: number,
  identityKey?: string,
  ignoreBackoff = false,
): boolean {
  if (g.state !== "closed" && g.state !== "retrying") return false;
  if (identityKey !== undefined && g.identityKey !== identityKey) return false;
  if (g.leaseUntil !== undefined && g.leaseUntil > now) return false;
  if (!ignoreBackoff && g.nextAttemptAt !== undefined && g.nextAttemptAt > now) return false;
  return true;
}

/** Orders claimable grains: oldest hour first (closest to its deadline), then key. */
export function compareForClaim(a: StoredGrain, b: StoredGrain): number {
  return a.hour - b.hour || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
}

/**
 * The lease a claim puts on a grain, with the next fencing token; an expired lease (of anyone) makes the
 * outcome uncertain.
 */
export function applyClaim(g: StoredGrain, owner: string, now: number, leaseMs: number): StoredGrain {
  // A lease that ran out without a settle or release means its holder may have sent the record.
  const uncertain = g.uncertain || g.leaseOwner !== undefined;
  return {
    ...g,
    leaseOwner: owner,
    leaseUntil: now + leaseMs,
    leaseToken: (g.leaseToken ?? 0) + 1,
    uncertain,
    updatedAt: now,
  };
}

/**
 * Whether `owner` still holds the grain with the token of its claim at `now`. A sender whose lease ran
 * out may already have been replaced, so it must not write (the fencing rule every store applies).
 */
export function holdsLease(g: StoredGrain, owner: string, leaseToken: number, now: number): boolean {
  return (
    g.leaseOwner === owner &&
    (g.leaseToken ?? 0) === leaseToken &&
    g.leaseUntil !== undefined &&
    now < g.leaseUntil
  );
}

/** The grain after a release, or undefined when `owner` no longer holds it with this token. */
export function applyRelease(g: StoredGrain, owner: string, leaseToken: number): StoredGrain | undefined {
  // No expiry check: a matching token means nobody claimed since, and a released grain was not sent.
  if (g.leaseOwner !== owner || (g.leaseToken ?? 0) !== leaseToken) return undefined;
  const next = { ...g };
  delete next.leaseOwner;
  delete next.leaseUntil;
  return next;
}

/**
 * The grain after an outcome, or undefined when the outcome does not apply: the grain is terminal, or
 * `owner` does not hold it with the outcome's token at `now` (terminal outcomes included).
 */
export function applySettle(
  g: StoredGrain,
  outcome: GrainOutcomeLike,
  owner: string,
  now: number,
): StoredGrain | undefined {
  if (g.state !== "closed" && g.state !== "retrying") return undefined;
  if (!holdsLease(g, owner, outcome.leaseToken, now)) return undefined;
  const base: StoredGrain = { ...g, updatedAt: now };
  delete base.leaseOwner;
  delete base.leaseUntil;
  if (outcome.state === "retrying") {
    return {
      ...base,
      state: "retrying",
      attempts: g.attempts + 1,
      nextAttemptAt: outcome.nextAttemptAt,
      lastError: outcome.error,
      uncertain: g.uncertain || outcome.uncertain,
    };
  }
  const done: StoredGrain = { ...base, state: outcome.state, settledAt: now };
  delete done.nextAttemptAt;
  if (outcome.state === "sent" && outcome.meteringRecordId) done.meteringRecordId = outcome.meteringRecordId;
  if (outcome.reason !== undefined) done.reason = outcome.reason;
  return done;
}

type GrainOutcomeLike = { leaseToken: number } & (
  | { state: "sent"; meteringRecordId?: string; reason?: string }
  | { state: "rejected" | "expired" | "uncertain"; reason: string; meteringRecordId?: undefined }
  | { state: "retrying"; nextAttemptAt: number; error: string; uncertain: boolean; reason?: undefined }
);

/** Whether a grain matches a list query. */
export function matchesQuery(
  g: StoredGrain,
  q: { hourFrom?: number; hourTo?: number; states?: readonly GrainState[]; identityKey?: string },
): boolean {
  if (q.hourFrom !== undefined && g.hour < q.hourFrom) return false;
  if (q.hourTo !== undefined && g.hour >= q.hourTo) return false;
  if (q.states && !q.states.includes(g.state)) return false;
  if (q.identityKey !== undefined && g.identityKey !== q.identityKey) return false;
  return true;
}

/** How long a store remembers an instance's last applied checkpoint (7 days): far past any retry. */
export const CHECKPOINT_RETENTION_MS = 7 * 24 * HOUR_MS;

/** Checks an add's checkpoint id; stores call it before applying. */
export function checkCheckpoint(c: CheckpointId | undefined): void {
  if (c === undefined) return;
  if (
    typeof c !== "object" ||
    c === null ||
    typeof c.instance !== "string" ||
    c.instance.length < 1 ||
    c.instance.length > 200 ||
    !Number.isSafeInteger(c.seq) ||
    c.seq < 1
  )
    throw new MarketplaceError(
      "INVALID_ARGUMENT",
      "add checkpoint must be { instance: 1-200 characters, seq: a positive safe integer }",
    );
}

/** Whether `seq` was already applied, given the highest seq applied for its instance (or none). */
export function isAppliedCheckpoint(lastSeq: number | undefined, seq: number): boolean {
  return lastSeq !== undefined && seq <= lastSeq;
}

/** A token bucket as a store keeps it: tokens left at `updatedAt` (epoch ms on the store's clock). */
export interface TokenBucketState {
  tokens: number;
  updatedAt: number;
}

/** Checks `takeSendToken` arguments. */
export function checkSendToken(bucket: unknown, o: SendTokenOptions): void {
  if (typeof bucket !== "string" || bucket.length < 1 || bucket.length > 200)
    throw new MarketplaceError(
      "INVALID_ARGUMENT",
      "takeSendToken bucket must be a string of 1-200 characters",
    );
  if (
    typeof o !== "object" ||
    o === null ||
    !(Number.isFinite(o.ratePerSecond) && o.ratePerSecond > 0) ||
    !(Number.isFinite(o.burst) && o.burst >= 1)
  )
    throw new MarketplaceError(
      "INVALID_ARGUMENT",
      "takeSendToken needs { ratePerSecond: a number above 0, burst: a number of at least 1 }",
    );
}

/**
 * One take from a token bucket at `now`: refill by the time passed (never backwards), take a token when
 * one is there. Returns the new state and 0, or the unchanged balance and the wait until a token is due.
 */
export function takeToken(
  state: TokenBucketState | undefined,
  now: number,
  o: SendTokenOptions,
): { state: TokenBucketState; waitMs: number } {
  const at = Math.max(now, state?.updatedAt ?? now);
  const tokens = state
    ? Math.min(o.burst, state.tokens + ((at - state.updatedAt) * o.ratePerSecond) / 1000)
    : o.burst;
  if (tokens >= 1) return { state: { tokens: tokens - 1, updatedAt: at }, waitMs: 0 };
  return {
    state: { tokens, updatedAt: at },
    waitMs: Math.max(1, Math.ceil(((1 - tokens) * 1000) / o.ratePerSecond)),
  };
}
