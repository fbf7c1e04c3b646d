// Several instances on one database: leases with fencing tokens, claims that never overlap, and a property
// test over interleavings of add / close / claim / settle / crash from simulated instances.
import type { StoredGrain, UsageStore } from "@marketmeter/core";
import type { AddContext } from "@marketmeter/core/store";
import fc from "fast-check";
import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { postgresStore } from "../src/index.js";
import { defined } from "./defined.js";
import { dropSchema, freshSchema, hasDatabase, url } from "./helpers.js";

const HOUR = 3_600_000;
const H0 = Date.UTC(2026, 6, 15, 8);
const ctxAt = (now: number): AddContext => ({
  now,
  openFrom: Math.floor((now - 300_000) / HOUR) * HOUR,
  carryTo: Math.floor(now / HOUR) * HOUR,
});

// One pool per simulated instance, as separate processes would have.
const pools: pg.Pool[] = [];
const schemas: string[] = [];
beforeAll(() => {
  for (let i = 0; i < 3; i++) {
    const p = new pg.Pool({ connectionString: url, max: 3 });
    p.on("error", () => {});
    pools.push(p);
  }
});
afterAll(async () => {
  await Promise.all(pools.map((p) => p.end()));
});
afterEach(async () => {
  while (schemas.length) await dropSchema(defined(schemas.pop()));
});
function instances(n: number): UsageStore[] {
  const schema = freshSchema();
  schemas.push(schema);
  return pools.slice(0, n).map((pool) => postgresStore({ pool, schema }));
}

describe.runIf(hasDatabase)("two or more instances on one database", () => {
  it("a stale owner cannot settle or release after another instance claimed the grain", async () => {
    const [a, b] = instances(2) as [UsageStore, UsageStore];
    await a.add([{ identityKey: "C|p|c1", dimension: "api", hour: H0, quantity: 7 }], ctxAt(H0 + 60_000));
    expect(await b.closeGrains({ hourBefore: H0 + HOUR, now: H0 + HOUR + 400_000 })).toBe(1);
    const t = H0 + HOUR + 500_000;
    const [ga] = await a.claim({ owner: "a", now: t, leaseMs: 1_000, limit: 10 });
    expect(ga?.leaseToken).toBe(1);
    // a stalls past its lease; b takes the grain over.
    const [gb] = await b.claim({ owner: "b", now: t + 2_000, leaseMs: 60_000, limit: 10 });
    expect(gb).toMatchObject({
      key: defined(ga).key,
      leaseOwner: "b",
      leaseToken: 2,
      uncertain: true,
      quantity: 7,
    });
    const stale = await a.settle(
      [{ key: defined(ga).key, leaseToken: 1, state: "sent", meteringRecordId: "from-a" }],
      { owner: "a", now: t + 500 },
    );
    expect(stale).toEqual({ applied: 0, refused: [defined(ga).key] });
    expect(await a.release([{ key: defined(ga).key, leaseToken: 1 }], "a")).toBe(0);
    const fresh = await b.settle(
      [{ key: defined(gb).key, leaseToken: 2, state: "sent", meteringRecordId: "from-b" }],
      { owner: "b", now: t + 3_000 },
    );
    expect(fresh).toEqual({ applied: 1, refused: [] });
    expect(await a.get(defined(ga).key)).toMatchObject({
      state: "sent",
      meteringRecordId: "from-b",
      quantity: 7,
    });
  });

  it("concurrent claims from three instances never take the same grain", async () => {
    const stores = instances(3);
    const deltas = Array.from({ length: 60 }, (_, i) => ({
      identityKey: `C|p|c${i}`,
      dimension: "api",
      hour: H0,
      quantity: i + 1,
    }));
    await defined(stores[0]).add(deltas, ctxAt(H0 + 60_000));
    await defined(stores[1]).closeGrains({ hourBefore: H0 + HOUR, now: H0 + HOUR + 400_000 });
    const now = H0 + HOUR + 500_000;
    const rounds = await Promise.all(
      stores.flatMap((s, i) =>
        [0, 1, 2].map(() => s.claim({ owner: `i${i}`, now, leaseMs: 60_000, limit: 7 })),
      ),
    );
    const keys = rounds.flat().map((g) => g.key);
    expect(new Set(keys).size).toBe(keys.length);
    const rest = await defined(stores[2]).claim({ owner: "late", now, leaseMs: 60_000, limit: 100 });
    expect(keys.length + rest.length).toBe(60);
    expect(new Set([...keys, ...rest.map((g) => g.key)]).size).toBe(60);
  });

  it("concurrent adds from several instances to the same new grains are all counted", async () => {
    const stores = instances(3);
    const ctx = ctxAt(H0 + 60_000);
    await Promise.all(
      stores.flatMap((s) =>
        Array.from({ length: 5 }, (_, j) =>
          s.add(
            [
              { identityKey: "C|p|x", dimension: "api", hour: H0, quantity: j + 1 },
              { identityKey: "C|p|y", dimension: "api", hour: H0, quantity: 1 },
            ],
            ctx,
          ),
        ),
      ),
    );
    const all = await defined(stores[0]).list();
    expect(all.map((g) => [g.identityKey, g.quantity])).toEqual([
      ["C|p|x", 3 * 15],
      ["C|p|y", 15],
    ]);
  });
});

type Cmd =
  | { k: "add"; i: number; who: number; dim: number; late: number; q: number }
  | { k: "close"; i: number }
  | { k: "claim"; i: number; limit: number; leaseMin: number }
  | { k: "settle"; i: number; n: number; outcome: "sent" | "retrying" | "release" }
  | { k: "crash"; i: number }
  | { k: "advance"; min: number };

const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      k: fc.constant("add" as const),
      i: fc.nat(2),
      who: fc.nat(3),
      dim: fc.nat(1),
      late: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 3 })),
      q: fc.integer({ min: 0, max: 50 }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ k: fc.constant("close" as const), i: fc.nat(2) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      k: fc.constant("claim" as const),
      i: fc.nat(2),
      limit: fc.integer({ min: 1, max: 4 }),
      leaseMin: fc.integer({ min: 1, max: 30 }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      k: fc.constant("settle" as const),
      i: fc.nat(2),
      n: fc.integer({ min: 1, max: 4 }),
      outcome: fc.constantFrom("sent" as const, "retrying" as const, "release" as const),
    }),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constant("crash" as const), i: fc.nat(2) }) },
  {
    weight: 2,
    arbitrary: fc.record({ k: fc.constant("advance" as const), min: fc.integer({ min: 1, max: 45 }) }),
  },
);

describe.runIf(hasDatabase)("property: interleaved instances", () => {
  it("no grain is settled by two owners, a claimed grain never changes, and quantities are conserved", async () => {
    await fc.assert(
      fc.asyncProperty(
        // Commands in steps; the commands of one step run concurrently (interleaved by the database).
        fc.array(fc.array(cmdArb, { minLength: 1, maxLength: 4 }), { minLength: 4, maxLength: 16 }),
        async (steps) => {
          const stores = instances(3);
          let now = H0 + 10 * 60_000;
          let added = 0;
          const held: Array<Array<{ key: string; token: number }>> = [[], [], []];
          const sentBy = new Map<string, string[]>();
          const frozen = new Map<string, number>();
          // The model's view of who holds each grain, updated once a step's commands have all finished.
          const leases = new Map<string, { owner: string; token: number; until: number }>();
          let stepClaims: Array<{ owner: string; g: StoredGrain; until: number }> = [];
          let stepFreed: Array<{ key: string; owner: string; token: number }> = [];
          const claimed = (g: StoredGrain) => {
            const q = frozen.get(g.key);
            if (q !== undefined) expect(g.quantity, `claimed ${g.key} changed`).toBe(q);
            frozen.set(g.key, g.quantity);
          };
          const exec = async (c: Cmd, at: number) => {
            if (c.k === "advance") return;
            const s = defined(stores[c.i]);
            const owner = `i${c.i}`;
            if (c.k === "add") {
              const hour = Math.floor(at / HOUR) * HOUR - c.late * HOUR;
              await s.add(
                [{ identityKey: `C|p|c${c.who}`, dimension: `d${c.dim}`, hour, quantity: c.q }],
                ctxAt(at),
              );
              added += c.q;
            } else if (c.k === "close") {
              await s.closeGrains({ hourBefore: ctxAt(at).openFrom, now: at });
            } else if (c.k === "claim") {
              const got = await s.claim({ owner, now: at, leaseMs: c.leaseMin * 60_000, limit: c.limit });
              for (const g of got) {
                claimed(g);
                defined(held[c.i]).push({ key: g.key, token: g.leaseToken });
                stepClaims.push({ owner, g, until: at + c.leaseMin * 60_000 });
              }
            } else if (c.k === "settle") {
              const mine = defined(held[c.i]).splice(0, c.n);
              if (mine.length === 0) return;
              if (c.outcome === "release") {
                const n = await s.release(
                  mine.map((l) => ({ key: l.key, leaseToken: l.token })),
                  owner,
                );
                // Only releases that applied free a grain; a lease that expired meanwhile may be anyone's.
                if (n === mine.length)
                  for (const l of mine) stepFreed.push({ key: l.key, owner, token: l.token });
                return;
              }
              const outcomes = mine.map((l) =>
                c.outcome === "sent"
                  ? { key: l.key, leaseToken: l.token, state: "sent" as const, meteringRecordId: owner }
                  : {
                      key: l.key,
                      leaseToken: l.token,
                      state: "retrying" as const,
                      nextAttemptAt: at + 60_000,
                      error: "throttled",
                      uncertain: false,
                    },
              );
              const r = await s.settle(outcomes, { owner, now: at });
              const refused = new Set(r.refused);
              for (const o of outcomes)
                if (!refused.has(o.key)) stepFreed.push({ key: o.key, owner, token: o.leaseToken });
              for (const o of outcomes)
                if (o.state === "sent" && !refused.has(o.key))
                  sentBy.set(o.key, [...(sentBy.get(o.key) ?? []), owner]);
            } else if (c.k === "crash") {
              held[c.i] = [];
            }
          };
          for (const step of steps) {
            const at = now;
            await Promise.all(step.map((c) => exec(c, at)));
            for (const f of stepFreed) {
              const l = leases.get(f.key);
              if (l && l.owner === f.owner && l.token === f.token) leases.delete(f.key);
            }
            // A grain is never claimed while another claim's lease on it is still running.
            for (const { owner, g, until } of stepClaims) {
              const l = leases.get(g.key);
              if (l)
                expect(l.until <= at, `${g.key} claimed by ${owner} while ${l.owner} held it`).toBe(true);
              expect(g.leaseToken, g.key).toBe((l?.token ?? g.leaseToken - 1) + 1);
              leases.set(g.key, { owner, token: g.leaseToken, until });
            }
            stepClaims = [];
            stepFreed = [];
            for (const c of step) if (c.k === "advance") now += c.min * 60_000;
          }
          const grains = await defined(stores[0]).list();
          for (const [key, owners] of sentBy) expect(owners, key).toHaveLength(1);
          for (const g of grains) {
            if (frozen.has(g.key)) expect(g.quantity, g.key).toBe(frozen.get(g.key));
            if (g.state === "sent") expect(g.meteringRecordId).toBe(sentBy.get(g.key)?.[0]);
          }
          expect(grains.reduce((n, g) => n + g.quantity, 0)).toBe(added);
          await dropSchema(defined(schemas.pop()));
        },
      ),
      { numRuns: 25 },
    );
  }, 120_000);
});
