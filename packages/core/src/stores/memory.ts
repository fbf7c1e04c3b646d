import { MarketplaceError } from "../errors/index.js";
import {
  applyAdd,
  applyClaim,
  applyRelease,
  applySettle,
  CHECKPOINT_RETENTION_MS,
  checkCheckpoint,
  checkSendToken,
  compareForClaim,
  isAppliedCheckpoint,
  isClaimable,
  matchesQuery,
  type TokenBucketState,
  takeToken,
} from "./grain.js";
import {
  type AddContext,
  type AddResult,
  type ClaimOptions,
  type CloseGrainsFilter,
  GRAIN_STATES,
  type GrainLease,
  type GrainOutcome,
  type GrainState,
  type ListQuery,
  type SendTokenOptions,
  type SettleResult,
  type StoredGrain,
  type UsageDelta,
  type UsageStore,
} from "./types.js";

/** Options of {@link memoryStore}. */
export interface MemoryStoreOptions {
  /**
   * Drop settled grains (sent, rejected, expired, uncertain) older than this many milliseconds after they settled,
   * so a long-running process does not grow without bound.
   * @default 172800000 (48 hours)
   */
  retainSettledMs?: number;
}

/**
 * The default store: grains live in this process only. Nothing survives a crash or restart, so use it
 * for development, tests and dry runs; use `@marketmeter/sqlite` (or a shared store) in production.
 *
 * @example
 * createMarketplace({ store: memoryStore(), … })
 */
export function memoryStore(options: MemoryStoreOptions = {}): UsageStore {
  if (typeof options !== "object" || options === null)
    throw new MarketplaceError("INVALID_CONFIG", "memoryStore options must be an object");
  const retain = options.retainSettledMs ?? 172_800_000;
  if (!Number.isSafeInteger(retain) || retain < 0)
    throw new MarketplaceError(
      "INVALID_CONFIG",
      "memoryStore retainSettledMs must be a non-negative integer",
    );
  const grains = new Map<string, StoredGrain>();
  // Highest applied checkpoint seq per writing instance, and when (for pruning).
  const checkpoints = new Map<string, { seq: number; at: number }>();
  const buckets = new Map<string, TokenBucketState>();
  let closed = false;
  const check = () => {
    if (closed) throw new MarketplaceError("STORE_ERROR", "memory store is closed");
  };
  const prune = (now: number) => {
    for (const [k, g] of grains)
      if (g.settledAt !== undefined && now - g.settledAt > retain) grains.delete(k);
    for (const [k, c] of checkpoints) if (now - c.at > CHECKPOINT_RETENTION_MS) checkpoints.delete(k);
  };

  return {
    kind: "memory",
    durable: false,
    async add(deltas: readonly UsageDelta[], ctx: AddContext): Promise<AddResult> {
      check();
      checkCheckpoint(ctx.checkpoint);
      const cp = ctx.checkpoint;
      if (cp && isAppliedCheckpoint(checkpoints.get(cp.instance)?.seq, cp.seq))
        return { carried: [], duplicate: true };
      // Stage writes so a failure half-way leaves nothing behind (all or nothing, like a transaction).
      const staged = new Map<string, StoredGrain>();
      const carried = applyAdd(
        { get: (k) => staged.get(k) ?? grains.get(k), put: (g) => void staged.set(g.key, g) },
        deltas,
        ctx,
      );
      for (const g of staged.values()) grains.set(g.key, g);
      if (cp) checkpoints.set(cp.instance, { seq: cp.seq, at: ctx.now });
      return { carried };
    },
    async closeGrains(filter: CloseGrainsFilter): Promise<number> {
      check();
      let n = 0;
      for (const g of grains.values()) {
        if (g.state !== "pending" || g.hour >= filter.hourBefore) continue;
        if (filter.identityKey !== undefined && g.identityKey !== filter.identityKey) continue;
        grains.set(g.key, {
          ...g,
          state: "closed",
          closedAt: filter.now,
          nextAttemptAt: filter.now,
          updatedAt: filter.now,
        });
        n++;
      }
      prune(filter.now);
      return n;
    },
    async claim(o: ClaimOptions): Promise<StoredGrain[]> {
      check();
      const due = [...grains.values()]
        .filter((g) => isClaimable(g, o.now, o.identityKey, o.ignoreBackoff))
        .sort(compareForClaim)
        .slice(0, o.limit);
      return due.map((g) => {
        const c = applyClaim(g, o.owner, o.now, o.leaseMs);
        grains.set(c.key, c);
        return { ...c };
      });
    },
    async settle(
      outcomes: readonly GrainOutcome[],
      ctx: { owner: string; now: number },
    ): Promise<SettleResult> {
      check();
      const result: SettleResult = { applied: 0, refused: [] };
      for (const o of outcomes) {
        const g = grains.get(o.key);
        const next = g && applySettle(g, o, ctx.owner, ctx.now);
        if (next) {
          grains.set(next.key, next);
          result.applied++;
        } else result.refused.push(o.key);
      }
      return result;
    },
    async release(leases: readonly GrainLease[], owner: string): Promise<number> {
      check();
      let n = 0;
      for (const l of leases) {
        const g = grains.get(l.key);
        const next = g && applyRelease(g, owner, l.leaseToken);
        if (next) {
          grains.set(l.key, next);
          n++;
        }
      }
      return n;
    },
    async get(key: string): Promise<StoredGrain | undefined> {
      check();
      const g = grains.get(key);
      return g ? { ...g } : undefined;
    },
    async list(query: ListQuery = {}): Promise<StoredGrain[]> {
      check();
      return [...grains.values()]
        .filter((g) => matchesQuery(g, query))
        .sort(compareForClaim)
        .slice(0, query.limit ?? 10_000)
        .map((g) => ({ ...g }));
    },
    async counts(): Promise<Record<GrainState, number>> {
      check();
      const out = Object.fromEntries(GRAIN_STATES.map((s) => [s, 0])) as Record<GrainState, number>;
      for (const g of grains.values()) out[g.state]++;
      return out;
    },
    async takeSendToken(bucket: string, o: SendTokenOptions): Promise<number> {
      check();
      checkSendToken(bucket, o);
      const r = takeToken(buckets.get(bucket), Date.now(), o);
      buckets.set(bucket, r.state);
      return r.waitMs;
    },
    async close(): Promise<void> {
      closed = true;
    },
  };
}
