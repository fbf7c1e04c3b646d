// The Redis store follows the core's grain rules exactly: the same random sequence of operations on
// memoryStore() and on redisStore() gives the same answers and the same grains. Closing and claiming run
// in Lua (a copy of the rules), so this is where a drift would show.
import { memoryStore, type StoredGrain, type UsageStore } from "@marketmeter/core";
import { MAX_QUANTITY, type UsageDelta } from "@marketmeter/core/store";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { redisStore } from "../src/index.js";
import { ctxAt, dropPrefix, freshPrefix, H0, HOUR, hasRedis, url } from "./helpers.js";

type Op =
  | { k: "add"; deltas: Array<Omit<UsageDelta, "hour"> & { late: number }> }
  | { k: "close"; who?: number }
  | { k: "claim"; owner: number; limit: number; leaseMin: number; who?: number; ignoreBackoff: boolean }
  | { k: "settle"; owner: number; n: number; outcome: "sent" | "retrying" | "rejected" | "uncertain" }
  | { k: "release"; owner: number; n: number }
  | { k: "advance"; min: number };

const who = (n: number) => `C|p|c${n}`;
const deltaArb = fc.record({
  identityKey: fc.nat(2).map(who),
  dimension: fc.constantFrom("api", "gb"),
  late: fc.constantFrom(0, 0, 0, 1, 2),
  quantity: fc.oneof(
    fc.integer({ min: 0, max: 100 }),
    fc.integer({ min: MAX_QUANTITY - 50, max: MAX_QUANTITY + 1000 }),
  ),
  ensure: fc.option(fc.constant(true), { nil: undefined }),
  allocations: fc.option(fc.constant(true), { nil: undefined }),
});

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      k: fc.constant("add" as const),
      deltas: fc.array(deltaArb, { minLength: 1, maxLength: 3 }).map((ds) =>
        ds.map(({ allocations, ...d }) => {
          if (!allocations) return d;
          const half = Math.floor(d.quantity / 2);
          return { ...d, allocations: { "": d.quantity - half, "env=prod": half } };
        }),
      ),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ k: fc.constant("close" as const), who: fc.option(fc.nat(2), { nil: undefined }) }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      k: fc.constant("claim" as const),
      owner: fc.nat(1),
      limit: fc.integer({ min: 1, max: 4 }),
      leaseMin: fc.integer({ min: 1, max: 30 }),
      who: fc.option(fc.nat(2), { nil: undefined }),
      ignoreBackoff: fc.boolean(),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      k: fc.constant("settle" as const),
      owner: fc.nat(1),
      n: fc.integer({ min: 1, max: 3 }),
      outcome: fc.constantFrom(
        "sent" as const,
        "retrying" as const,
        "rejected" as const,
        "uncertain" as const,
      ),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      k: fc.constant("release" as const),
      owner: fc.nat(1),
      n: fc.integer({ min: 1, max: 3 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ k: fc.constant("advance" as const), min: fc.integer({ min: 1, max: 50 }) }),
  },
);

/** Runs one op on a store; `held` is that store's view of each owner's leases. */
async function step(s: UsageStore, op: Op, now: number, held: Map<number, StoredGrain[]>): Promise<unknown> {
  switch (op.k) {
    case "add": {
      const deltas = op.deltas.map(({ late, ...d }) => ({
        ...d,
        hour: Math.floor(now / HOUR) * HOUR - late * HOUR,
      }));
      return s.add(deltas, ctxAt(now));
    }
    case "close":
      return s.closeGrains({
        hourBefore: ctxAt(now).openFrom,
        now,
        ...(op.who !== undefined ? { identityKey: who(op.who) } : {}),
      });
    case "claim": {
      const got = await s.claim({
        owner: `o${op.owner}`,
        now,
        leaseMs: op.leaseMin * 60_000,
        limit: op.limit,
        ignoreBackoff: op.ignoreBackoff,
        ...(op.who !== undefined ? { identityKey: who(op.who) } : {}),
      });
      held.set(op.owner, [...(held.get(op.owner) ?? []), ...got]);
      return got;
    }
    case "settle": {
      const mine = (held.get(op.owner) ?? []).splice(0, op.n);
      return s.settle(
        mine.map((g) =>
          op.outcome === "retrying"
            ? {
                key: g.key,
                leaseToken: g.leaseToken,
                state: "retrying" as const,
                nextAttemptAt: now + 30 * 60_000,
                error: "throttled",
                uncertain: g.quantity % 2 === 0,
              }
            : op.outcome === "sent"
              ? {
                  key: g.key,
                  leaseToken: g.leaseToken,
                  state: "sent" as const,
                  meteringRecordId: `m-${g.key}`,
                }
              : { key: g.key, leaseToken: g.leaseToken, state: op.outcome, reason: "because" },
        ),
        { owner: `o${op.owner}`, now },
      );
    }
    case "release": {
      const mine = (held.get(op.owner) ?? []).splice(0, op.n);
      return s.release(
        mine.map((g) => ({ key: g.key, leaseToken: g.leaseToken })),
        `o${op.owner}`,
      );
    }
    case "advance":
      return undefined;
  }
}

describe.runIf(hasRedis)("property: the Redis store answers like the memory store", () => {
  it("same operations, same answers, same grains", async () => {
    // Each operation comes after 0 to 15 minutes, so runs cross several hours (closes, lease expiries).
    const timed = fc.tuple(opArb, fc.integer({ min: 0, max: 15 }));
    await fc.assert(
      fc.asyncProperty(fc.array(timed, { minLength: 5, maxLength: 40 }), async (ops) => {
        const keyPrefix = freshPrefix("parity");
        const redis = redisStore({ url, keyPrefix });
        const memory = memoryStore({ retainSettledMs: 35 * 86_400_000 });
        const heldR = new Map<number, StoredGrain[]>();
        const heldM = new Map<number, StoredGrain[]>();
        let now = H0 + 50 * 60_000;
        try {
          for (const [op, dt] of ops) {
            now += dt * 60_000 + (op.k === "advance" ? op.min * 60_000 : 0);
            const [r, m] = await Promise.all([step(redis, op, now, heldR), step(memory, op, now, heldM)]);
            expect(r, JSON.stringify(op)).toEqual(m);
          }
          expect(await redis.list()).toEqual(await memory.list());
          expect(await redis.counts()).toEqual(await memory.counts());
        } finally {
          await redis.close();
          await dropPrefix(keyPrefix);
        }
      }),
      { numRuns: 60 },
    );
  }, 120_000);
});
