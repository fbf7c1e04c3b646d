/**
 * A behavioural test suite every store must pass. It is framework-neutral: pass the `describe` and
 * `it` of your test runner (vitest, node:test, jest); assertions use `node:assert/strict`.
 */
import assert from "node:assert/strict";
import { MarketplaceError } from "../errors/index.js";
import { HOUR_MS } from "../runtime/index.js";
import { grainKey, MAX_QUANTITY } from "./grain.js";
import { interleavings } from "./interleavings.js";
import type { AddContext, StoredGrain, UsageStore } from "./types.js";

/** What the suite needs to create stores. */
export interface StoreConformanceTarget {
  /** A short name used in test titles. */
  name: string;
  /**
   * Creates a fresh, empty storage. `open()` returns another handle on the same storage (another
   * connection or client, as a second process would have); a store that cannot, returns `store` again.
   */
  create(): Promise<{ store: UsageStore; open(): Promise<UsageStore>; cleanup(): Promise<void> }>;
  /** True when `open()` after closing every handle still sees the data (durable stores). */
  durable: boolean;
}

type Describe = (name: string, fn: () => void) => void;
type It = (name: string, fn: () => Promise<void>, timeout?: number) => void;

/**
 * The part of fast-check the interleaving property uses (pass the `fast-check` module itself; core does
 * not depend on it).
 */
interface FastCheckApi {
  assert(property: unknown, params?: { numRuns?: number }): Promise<void>;
  asyncProperty(arb: unknown, predicate: (ops: number[]) => Promise<void>): unknown;
  array(arb: unknown, constraints?: { minLength?: number; maxLength?: number; size?: string }): unknown;
  nat(max?: number): unknown;
}

/** The test runner's functions; with `fc` (the fast-check module) the interleaving property runs too. */
export interface ConformanceRunner {
  describe: Describe;
  it: It;
  /** The `fast-check` module: enables the property over interleavings of several instances. */
  fc?: object;
  /** Runs of the interleaving property. @default 30 */
  numRuns?: number;
}

const ID_A = "L|pca1234567890abcdefghijkl|123456789012|arn:aws:license-manager::294406891311:license:l-0123";
const ID_B = "C|pleg1234567890abcdefghijk|cust-ABC123";
const H0 = Date.UTC(2026, 6, 15, 8);

/** The value, or a failed assertion naming what the store did not return. */
function present<T>(value: T | undefined, what: string): T {
  if (value === undefined) assert.fail(`${what}: the store returned nothing`);
  return value;
}
const H1 = H0 + HOUR_MS;
const H2 = H1 + HOUR_MS;
const H3 = H2 + HOUR_MS;

/** Context at `now`, with a grace of 5 minutes. */
function ctxAt(now: number, graceMs = 300_000): AddContext {
  return {
    now,
    openFrom: Math.floor((now - graceMs) / HOUR_MS) * HOUR_MS,
    carryTo: Math.floor(now / HOUR_MS) * HOUR_MS,
  };
}

/**
 * Registers the store conformance suite.
 *
 * @example
 * import { describe, it } from "vitest";
 * import { storeConformance } from "@marketmeter/core/store";
 * storeConformance({ name: "sqlite", durable: true, create: async () => { … } }, { describe, it });
 */
export function storeConformance(target: StoreConformanceTarget, t: ConformanceRunner): void {
  const { describe, it } = t;
  const fc = t.fc as FastCheckApi | undefined;
  if (fc !== undefined && (typeof fc.assert !== "function" || typeof fc.asyncProperty !== "function"))
    throw new MarketplaceError("INVALID_ARGUMENT", "storeConformance fc must be the fast-check module");
  const withStore = (fn: (s: UsageStore, open: () => Promise<UsageStore>) => Promise<void>) => async () => {
    const h = await target.create();
    try {
      await fn(h.store, h.open);
    } finally {
      await h.store.close().catch(() => {});
      await h.cleanup();
    }
  };

  describe(`store conformance: ${target.name}`, () => {
    it(
      "add sums usage per grain and keeps allocations summing to the quantity",
      withStore(async (s) => {
        const ctx = ctxAt(H1 + 60_000);
        await s.add([{ identityKey: ID_A, dimension: "api_calls", hour: H1, quantity: 3 }], ctx);
        await s.add(
          [
            {
              identityKey: ID_A,
              dimension: "api_calls",
              hour: H1,
              quantity: 4,
              allocations: { '[["env","prod"]]': 4 },
            },
            { identityKey: ID_B, dimension: "api_calls", hour: H1, quantity: 5 },
          ],
          ctx,
        );
        const a = await s.get(grainKey(ID_A, "api_calls", H1));
        assert.equal(a?.quantity, 7);
        assert.equal(a?.state, "pending");
        assert.deepEqual(a?.allocations, { "": 3, '[["env","prod"]]': 4 });
        const b = await s.get(grainKey(ID_B, "api_calls", H1));
        assert.equal(b?.quantity, 5);
        assert.equal(b?.allocations, undefined);
        assert.equal(a?.identityKey, ID_A);
        assert.equal(a?.dimension, "api_calls");
        assert.equal(a?.hour, H1);
      }),
    );

    it(
      "usage for a closed grain moves to the open hour atomically and is reported",
      withStore(async (s) => {
        await s.add(
          [{ identityKey: ID_A, dimension: "api_calls", hour: H1, quantity: 10 }],
          ctxAt(H1 + 1000),
        );
        assert.equal(await s.closeGrains({ hourBefore: H2, identityKey: ID_A, now: H1 + 2000 }), 1);
        const r = await s.add(
          [{ identityKey: ID_A, dimension: "api_calls", hour: H1, quantity: 2 }],
          ctxAt(H1 + 3000),
        );
        assert.deepEqual(r.carried, [
          {
            identityKey: ID_A,
            dimension: "api_calls",
            fromHour: H1,
            toHour: H2,
            quantity: 2,
            reason: "closed",
          },
        ]);
        assert.equal((await s.get(grainKey(ID_A, "api_calls", H1)))?.quantity, 10);
        assert.equal((await s.get(grainKey(ID_A, "api_calls", H2)))?.quantity, 2);
      }),
    );

    it(
      "usage for a final hour without a grain goes to the current hour",
      withStore(async (s) => {
        const r = await s.add(
          [{ identityKey: ID_B, dimension: "d", hour: H0, quantity: 6 }],
          ctxAt(H2 + 600_000),
        );
        assert.equal(r.carried.length, 1);
        assert.equal(r.carried[0]?.toHour, H2);
        assert.equal(await s.get(grainKey(ID_B, "d", H0)), undefined);
        assert.equal((await s.get(grainKey(ID_B, "d", H2)))?.quantity, 6);
        // Inside the grace period the previous hour still takes usage.
        const r2 = await s.add(
          [{ identityKey: ID_B, dimension: "d", hour: H1, quantity: 1 }],
          ctxAt(H2 + 60_000),
        );
        assert.equal(r2.carried.length, 0);
        assert.equal((await s.get(grainKey(ID_B, "d", H1)))?.quantity, 1);
      }),
    );

    it(
      "a grain never passes 2,147,483,647: the excess moves to the next hour",
      withStore(async (s) => {
        const ctx = ctxAt(H1 + 1000);
        await s.add([{ identityKey: ID_A, dimension: "d", hour: H1, quantity: MAX_QUANTITY - 10 }], ctx);
        const r = await s.add(
          [{ identityKey: ID_A, dimension: "d", hour: H1, quantity: 25, allocations: { a: 20, b: 5 } }],
          ctx,
        );
        const g1 = await s.get(grainKey(ID_A, "d", H1));
        const g2 = await s.get(grainKey(ID_A, "d", H2));
        assert.equal(g1?.quantity, MAX_QUANTITY);
        assert.equal(g2?.quantity, 15);
        const sum = (g?: StoredGrain) => Object.values(g?.allocations ?? {}).reduce((x, y) => x + y, 0);
        assert.equal(sum(g1), MAX_QUANTITY);
        assert.equal(sum(g2), 15);
        assert.deepEqual(r.carried, [
          { identityKey: ID_A, dimension: "d", fromHour: H1, toHour: H2, quantity: 15, reason: "int32" },
        ]);
      }),
    );

    it(
      "ensure creates a zero grain once, even for a final hour",
      withStore(async (s) => {
        const ctx = ctxAt(H2 + 600_000);
        await s.add([{ identityKey: ID_A, dimension: "d", hour: H1, quantity: 0, ensure: true }], ctx);
        const g = await s.get(grainKey(ID_A, "d", H1));
        assert.equal(g?.quantity, 0);
        assert.equal(g?.state, "pending");
        await s.add([{ identityKey: ID_B, dimension: "d", hour: H1, quantity: 0, ensure: true }], ctx);
        await s.add([{ identityKey: ID_A, dimension: "d", hour: H1, quantity: 0, ensure: true }], ctx);
        assert.equal((await s.list()).length, 2);
      }),
    );

    it(
      "closeGrains freezes pending grains before an hour, optionally for one identity",
      withStore(async (s) => {
        const ctx = ctxAt(H1 + 1000);
        await s.add(
          [
            { identityKey: ID_A, dimension: "d", hour: H0, quantity: 1 },
            { identityKey: ID_A, dimension: "d", hour: H1, quantity: 1 },
            { identityKey: ID_B, dimension: "d", hour: H1, quantity: 1 },
          ],
          { ...ctx, openFrom: H0 },
        );
        assert.equal(await s.closeGrains({ hourBefore: H1, now: H1 + 2000 }), 1);
        assert.equal(await s.closeGrains({ hourBefore: H1, now: H1 + 2000 }), 0);
        assert.equal(await s.closeGrains({ hourBefore: H2, identityKey: ID_B, now: H1 + 3000 }), 1);
        const states = Object.fromEntries((await s.list()).map((g) => [g.key, g.state]));
        assert.deepEqual(states, {
          [grainKey(ID_A, "d", H0)]: "closed",
          [grainKey(ID_A, "d", H1)]: "pending",
          [grainKey(ID_B, "d", H1)]: "closed",
        });
        const c = await s.get(grainKey(ID_B, "d", H1));
        assert.equal(c?.closedAt, H1 + 3000);
        assert.deepEqual(await s.counts(), {
          pending: 1,
          closed: 2,
          retrying: 0,
          sent: 0,
          rejected: 0,
          expired: 0,
          uncertain: 0,
        });
      }),
    );

    it(
      "claim leases due grains oldest first, never twice while the lease holds",
      withStore(async (s) => {
        const now = H3;
        await s.add(
          [H2, H0, H1].map((hour) => ({ identityKey: ID_A, dimension: "d", hour, quantity: 1 })),
          { now, openFrom: H0, carryTo: H3 },
        );
        await s.add([{ identityKey: ID_B, dimension: "d", hour: H2, quantity: 1 }], {
          now,
          openFrom: H0,
          carryTo: H3,
        });
        await s.closeGrains({ hourBefore: H3, now });
        const first = await s.claim({ owner: "a", now, leaseMs: 60_000, limit: 2 });
        assert.deepEqual(
          first.map((g) => g.hour),
          [H0, H1],
        );
        assert.ok(first.every((g) => g.leaseOwner === "a" && g.leaseUntil === now + 60_000 && !g.uncertain));
        assert.ok(first.every((g) => g.leaseToken === 1));
        const second = await s.claim({ owner: "b", now: now + 1000, leaseMs: 60_000, limit: 10 });
        assert.equal(second.length, 2);
        assert.ok(second.every((g) => g.hour === H2));
        assert.equal((await s.claim({ owner: "c", now: now + 2000, leaseMs: 60_000, limit: 10 })).length, 0);
        const onlyB = await s.claim({
          owner: "c",
          now: now + 61_001,
          leaseMs: 60_000,
          limit: 10,
          identityKey: ID_B,
        });
        assert.equal(onlyB.length, 1);
        assert.equal(onlyB[0]?.identityKey, ID_B);
        // Re-claimed after the lease expired: the first owner may have sent it, so it is uncertain.
        assert.equal(onlyB[0]?.uncertain, true);
      }),
    );

    it(
      "settle records sent, rejected, expired, uncertain and retrying for the lease holder",
      withStore(async (s) => {
        const now = H3;
        await s.add(
          [H0, H1, H2].flatMap((hour) => [
            { identityKey: ID_A, dimension: "d", hour, quantity: 2 },
            { identityKey: ID_B, dimension: "d", hour, quantity: 2 },
          ]),
          { now, openFrom: H0, carryTo: H3 },
        );
        await s.closeGrains({ hourBefore: H3, now });
        const got = await s.claim({ owner: "a", now, leaseMs: 60_000, limit: 10 });
        assert.equal(got.length, 6);
        const k = (id: string, h: number) => grainKey(id, "d", h);
        const token = new Map(got.map((g) => [g.key, g.leaseToken]));
        const t = (key: string) => present(token.get(key), `lease token of ${key}`);
        assert.ok(got.every((g) => Number.isSafeInteger(g.leaseToken) && g.leaseToken > 0));
        const result = await s.settle(
          [
            { key: k(ID_A, H0), leaseToken: t(k(ID_A, H0)), state: "sent", meteringRecordId: "mr-1" },
            {
              key: k(ID_B, H0),
              leaseToken: t(k(ID_B, H0)),
              state: "rejected",
              reason: "CustomerNotSubscribed",
            },
            { key: k(ID_A, H1), leaseToken: t(k(ID_A, H1)), state: "expired", reason: "window" },
            {
              key: k(ID_B, H1),
              leaseToken: t(k(ID_B, H1)),
              state: "retrying",
              nextAttemptAt: now + 5000,
              error: "Throttling",
              uncertain: false,
            },
            {
              key: k(ID_A, H2),
              leaseToken: t(k(ID_A, H2)),
              state: "retrying",
              nextAttemptAt: now + 5000,
              error: "timeout",
              uncertain: true,
            },
          ],
          { owner: "a", now: now + 10 },
        );
        assert.deepEqual(result, { applied: 5, refused: [] });
        // Not the lease owner: no outcome applies, terminal or not, and the refusal is reported.
        const other = await s.settle(
          [
            {
              key: k(ID_B, H2),
              leaseToken: t(k(ID_B, H2)),
              state: "retrying",
              nextAttemptAt: now,
              error: "x",
              uncertain: false,
            },
            { key: k(ID_B, H2), leaseToken: t(k(ID_B, H2)), state: "sent" },
          ],
          { owner: "zzz", now: now + 11 },
        );
        assert.deepEqual(other, { applied: 0, refused: [k(ID_B, H2), k(ID_B, H2)] });
        const g = async (key: string) => present(await s.get(key), `grain ${key}`);
        assert.equal((await g(k(ID_A, H0))).state, "sent");
        assert.equal((await g(k(ID_A, H0))).meteringRecordId, "mr-1");
        assert.equal((await g(k(ID_A, H0))).leaseOwner, undefined);
        assert.equal((await g(k(ID_B, H0))).reason, "CustomerNotSubscribed");
        assert.equal((await g(k(ID_A, H1))).state, "expired");
        const r = await g(k(ID_B, H1));
        assert.equal(r.state, "retrying");
        assert.equal(r.attempts, 1);
        assert.equal(r.nextAttemptAt, now + 5000);
        assert.equal(r.lastError, "Throttling");
        assert.equal(r.uncertain, false);
        assert.equal((await g(k(ID_A, H2))).uncertain, true);
        assert.equal((await g(k(ID_B, H2))).state, "closed");
        assert.equal((await g(k(ID_B, H2))).leaseOwner, "a");
        // A terminal grain never changes again.
        const late = await s.settle(
          [{ key: k(ID_A, H0), leaseToken: t(k(ID_A, H0)), state: "rejected", reason: "late" }],
          { owner: "a", now: now + 20 },
        );
        assert.deepEqual(late, { applied: 0, refused: [k(ID_A, H0)] });
        assert.equal((await g(k(ID_A, H0))).state, "sent");
        // Retrying grains are due only at their next attempt time, unless backoff is ignored.
        await s.release([{ key: k(ID_B, H2), leaseToken: t(k(ID_B, H2)) }], "a");
        assert.equal((await g(k(ID_B, H2))).leaseOwner, undefined);
        const early = await s.claim({ owner: "b", now: now + 100, leaseMs: 1000, limit: 10 });
        assert.deepEqual(
          early.map((x) => x.key),
          [k(ID_B, H2)],
        );
        // Released without an attempt: nothing may have reached AWS.
        assert.equal(early[0]?.uncertain, false);
        const urgent = await s.claim({
          owner: "b",
          now: now + 100,
          leaseMs: 1000,
          limit: 10,
          ignoreBackoff: true,
        });
        assert.equal(urgent.length, 2);
        const later = await s.claim({ owner: "c", now: now + 5000 + 1000, leaseMs: 1000, limit: 10 });
        assert.equal(later.length, 3);
        const u = present(
          later.find((x) => x.key === k(ID_A, H2)),
          "the H2 grain",
        );
        assert.deepEqual(
          await s.settle(
            [{ key: u.key, leaseToken: u.leaseToken, state: "uncertain", reason: "window passed" }],
            { owner: "c", now: now + 6001 },
          ),
          { applied: 1, refused: [] },
        );
        assert.equal((await g(u.key)).state, "uncertain");
        assert.equal((await g(u.key)).settledAt, now + 6001);
        assert.deepEqual(await s.counts(), {
          pending: 0,
          closed: 1,
          retrying: 1,
          sent: 1,
          rejected: 1,
          expired: 1,
          uncertain: 1,
        });
        assert.equal((await s.list({ states: ["uncertain"] })).length, 1);
      }),
    );

    it(
      "fencing: a stale owner cannot settle or release once another sender took the grain over",
      withStore(async (s, open) => {
        const other = await open();
        const now = H3;
        await s.add([{ identityKey: ID_A, dimension: "d", hour: H1, quantity: 3 }], {
          now,
          openFrom: H0,
          carryTo: H3,
        });
        await s.closeGrains({ hourBefore: H2, now });
        const [a] = await s.claim({ owner: "a", now, leaseMs: 1000, limit: 1 });
        assert.ok(a);
        // a's lease runs out while its call is still out; b takes the grain over on another handle.
        const [b] = await other.claim({ owner: "b", now: now + 1500, leaseMs: 60_000, limit: 1 });
        assert.ok(b);
        assert.ok(b.leaseToken > a.leaseToken);
        assert.equal(b.uncertain, true);
        const stale = await s.settle(
          [
            { key: a.key, leaseToken: a.leaseToken, state: "rejected", reason: "DuplicateRecord" },
            {
              key: a.key,
              leaseToken: a.leaseToken,
              state: "retrying",
              nextAttemptAt: now,
              error: "timeout",
              uncertain: true,
            },
          ],
          { owner: "a", now: now + 1600 },
        );
        assert.deepEqual(stale, { applied: 0, refused: [a.key, a.key] });
        await s.release([{ key: a.key, leaseToken: a.leaseToken }], "a");
        // Same owner name, old token (a restarted instance reusing its id): still refused.
        const reused = await s.settle([{ key: a.key, leaseToken: a.leaseToken, state: "sent" }], {
          owner: "b",
          now: now + 1700,
        });
        assert.deepEqual(reused, { applied: 0, refused: [a.key] });
        const held = await s.get(a.key);
        assert.equal(held?.state, "closed");
        assert.equal(held?.leaseOwner, "b");
        assert.equal(held?.leaseToken, b.leaseToken);
        assert.deepEqual(
          await other.settle(
            [{ key: b.key, leaseToken: b.leaseToken, state: "sent", meteringRecordId: "m" }],
            {
              owner: "b",
              now: now + 1800,
            },
          ),
          { applied: 1, refused: [] },
        );
        assert.equal((await s.get(a.key))?.state, "sent");
        if (other !== s) await other.close();
      }),
    );

    it(
      "fencing: an owner whose own lease expired cannot settle; the next claim is uncertain",
      withStore(async (s) => {
        const now = H3;
        await s.add([{ identityKey: ID_B, dimension: "d", hour: H1, quantity: 3 }], {
          now,
          openFrom: H0,
          carryTo: H3,
        });
        await s.closeGrains({ hourBefore: H2, now });
        const [a] = await s.claim({ owner: "a", now, leaseMs: 1000, limit: 1 });
        assert.ok(a);
        // The lease ends at now + 1000: from then on the grain may be claimed again.
        const late = await s.settle(
          [
            {
              key: a.key,
              leaseToken: a.leaseToken,
              state: "retrying",
              nextAttemptAt: now + 2000,
              error: "timeout",
              uncertain: true,
            },
            { key: a.key, leaseToken: a.leaseToken, state: "sent" },
          ],
          { owner: "a", now: now + 1000 },
        );
        assert.deepEqual(late, { applied: 0, refused: [a.key, a.key] });
        const g = await s.get(a.key);
        assert.equal(g?.state, "closed");
        assert.equal(g?.attempts, 0);
        assert.equal(g?.leaseOwner, "a");
        const [again] = await s.claim({ owner: "a", now: now + 1000, leaseMs: 1000, limit: 1 });
        assert.equal(again?.uncertain, true);
        const reclaimed = present(again, "the reclaimed grain");
        assert.ok(reclaimed.leaseToken > a.leaseToken);
        // Inside its lease the holder settles normally.
        assert.deepEqual(
          await s.settle([{ key: a.key, leaseToken: reclaimed.leaseToken, state: "sent" }], {
            owner: "a",
            now: now + 1999,
          }),
          { applied: 1, refused: [] },
        );
      }),
    );

    it(
      "list filters by hour range, state and identity",
      withStore(async (s) => {
        const now = H3;
        await s.add(
          [H0, H1, H2].flatMap((hour) => [
            { identityKey: ID_A, dimension: "d", hour, quantity: 1 },
            { identityKey: ID_B, dimension: "e", hour, quantity: 1 },
          ]),
          { now, openFrom: H0, carryTo: H3 },
        );
        await s.closeGrains({ hourBefore: H1, now });
        assert.equal((await s.list({ hourFrom: H1, hourTo: H2 })).length, 2);
        assert.equal((await s.list({ states: ["closed"] })).length, 2);
        assert.equal((await s.list({ identityKey: ID_B, hourFrom: H1 })).length, 2);
        assert.equal((await s.list({ limit: 1 })).length, 1);
        const all = await s.list();
        assert.deepEqual(
          all.map((g) => g.hour),
          [H0, H0, H1, H1, H2, H2],
        );
      }),
    );

    it(
      "two handles on the same storage never lease the same grain",
      withStore(async (s, open) => {
        const other = await open();
        const now = H3;
        const deltas = [];
        for (let i = 0; i < 60; i++)
          deltas.push({ identityKey: ID_A, dimension: `d${i}`, hour: H1, quantity: i + 1 });
        await s.add(deltas, { now, openFrom: H0, carryTo: H3 });
        await other.closeGrains({ hourBefore: H2, now });
        const owners = ["a", "b", "c", "d", "e", "f"];
        const results = await Promise.all(
          owners.map((o, i) => (i % 2 ? other : s).claim({ owner: o, now, leaseMs: 60_000, limit: 7 })),
        );
        const more = await Promise.all(
          owners.map((o, i) => (i % 2 ? s : other).claim({ owner: o, now, leaseMs: 60_000, limit: 7 })),
        );
        const keys = [...results, ...more].flat().map((g) => g.key);
        assert.equal(new Set(keys).size, keys.length);
        assert.equal(keys.length, 60);
        if (other !== s) await other.close();
      }),
    );

    it(
      "concurrent adds from two handles are all counted",
      withStore(async (s, open) => {
        const other = await open();
        const ctx = ctxAt(H1 + 1000);
        const ops = [];
        for (let i = 0; i < 40; i++)
          ops.push(
            (i % 2 ? other : s).add([{ identityKey: ID_B, dimension: "d", hour: H1, quantity: i }], ctx),
          );
        await Promise.all(ops);
        assert.equal((await s.get(grainKey(ID_B, "d", H1)))?.quantity, (39 * 40) / 2);
        if (other !== s) await other.close();
      }),
    );

    it(
      "checkpoints: an add applied, its answer lost, retried with the same seq counts once",
      withStore(async (s, open) => {
        const other = await open();
        const ctx = { ...ctxAt(H1 + 1000), checkpoint: { instance: "inst-a", seq: 1 } };
        const deltas = [
          { identityKey: ID_A, dimension: "d", hour: H1, quantity: 5 },
          { identityKey: ID_B, dimension: "d", hour: H0, quantity: 2 },
        ];
        const first = await s.add(deltas, ctx);
        assert.notEqual(first.duplicate, true);
        // The retry may come through another connection, after the first one dropped.
        const again = await other.add(deltas, { ...ctx, now: H1 + 2000 });
        assert.equal(again.duplicate, true);
        assert.deepEqual(again.carried, []);
        assert.equal((await s.get(grainKey(ID_A, "d", H1)))?.quantity, 5);
        assert.equal((await s.get(grainKey(ID_B, "d", H0)))?.quantity, 2);
        // Concurrent retries of one seq: exactly one applies.
        const next = { ...ctx, checkpoint: { instance: "inst-a", seq: 2 } };
        const both = await Promise.all([s.add(deltas, next), other.add(deltas, next)]);
        assert.equal(both.filter((r) => r.duplicate === true).length, 1);
        assert.equal((await s.get(grainKey(ID_A, "d", H1)))?.quantity, 10);
        if (other !== s) await other.close();
      }),
    );

    it(
      "checkpoints: a lower seq of the same instance is a duplicate; other instances are unaffected",
      withStore(async (s) => {
        const ctx = ctxAt(H1 + 1000);
        const d = [{ identityKey: ID_A, dimension: "d", hour: H1, quantity: 1 }];
        await s.add(d, { ...ctx, checkpoint: { instance: "a", seq: 5 } });
        assert.equal((await s.add(d, { ...ctx, checkpoint: { instance: "a", seq: 3 } })).duplicate, true);
        assert.equal((await s.add(d, { ...ctx, checkpoint: { instance: "a", seq: 5 } })).duplicate, true);
        assert.notEqual((await s.add(d, { ...ctx, checkpoint: { instance: "b", seq: 1 } })).duplicate, true);
        assert.notEqual((await s.add(d, { ...ctx, checkpoint: { instance: "a", seq: 6 } })).duplicate, true);
        // Without a checkpoint an add is always applied (zero records, older callers).
        await s.add(d, ctx);
        assert.equal((await s.get(grainKey(ID_A, "d", H1)))?.quantity, 4);
        await assert.rejects(
          s.add(d, { ...ctx, checkpoint: { instance: "a", seq: 0 } }),
          (e: unknown) => e instanceof MarketplaceError,
        );
      }),
    );

    it(
      "send tokens (when the store paces): a bucket never gives more than its burst at once",
      withStore(async (s, open) => {
        if (!s.takeSendToken) return;
        const other = await open();
        const o = { ratePerSecond: 0.001, burst: 3 };
        const waits = await Promise.all(
          Array.from({ length: 12 }, (_, i) =>
            present((i % 2 ? other : s).takeSendToken, "takeSendToken").call(
              i % 2 ? other : s,
              "batchMeterUsage:us-east-1",
              o,
            ),
          ),
        );
        assert.equal(waits.filter((w) => w === 0).length, 3);
        assert.ok(waits.every((w) => w === 0 || (Number.isFinite(w) && w > 0)));
        // Buckets are independent.
        assert.equal(await s.takeSendToken("batchMeterUsage:eu-west-1", o), 0);
        await assert.rejects(s.takeSendToken("", o), (e: unknown) => e instanceof MarketplaceError);
        await assert.rejects(
          s.takeSendToken("b", { ratePerSecond: 0, burst: 1 }),
          (e: unknown) => e instanceof MarketplaceError,
        );
        if (other !== s) await other.close();
      }),
    );

    it(
      "send tokens: concurrent takers never get more than burst + rate x elapsed",
      withStore(async (s, open) => {
        if (!s.takeSendToken) return;
        const handles = [s, await open()];
        const o = { ratePerSecond: 40, burst: 4 };
        const bucket = "batchMeterUsage:rate";
        const start = Date.now();
        let taken = 0;
        await Promise.all(
          Array.from({ length: 6 }, async (_, i) => {
            const h = handles[i % 2] ?? s;
            for (let n = 0; n < 5; ) {
              const wait = await present(h.takeSendToken, "takeSendToken").call(h, bucket, o);
              if (wait === 0) {
                taken++;
                n++;
              } else await new Promise((r) => setTimeout(r, Math.min(wait, 50)));
            }
          }),
        );
        const elapsed = Date.now() - start;
        assert.equal(taken, 30);
        // 30 tokens at 40/s with a burst of 4 need at least (30 - 4) / 40 s of the store's clock.
        assert.ok(taken <= o.burst + (o.ratePerSecond * (elapsed + 5)) / 1000, `${taken} in ${elapsed} ms`);
        if (handles[1] !== s) await handles[1]?.close();
      }),
      30_000,
    );

    if (fc)
      it("interleavings of add / close / claim / settle / release / crash across 3 instances keep the invariants", async () => {
        await fc.assert(
          fc.asyncProperty(
            fc.array(fc.nat(0xffff), { minLength: 10, maxLength: 60, size: "max" }),
            async (ops) => {
              const h = await target.create();
              try {
                await interleavings(h.store, h.open, ops);
              } finally {
                await h.store.close().catch(() => {});
                await h.cleanup();
              }
            },
          ),
          { numRuns: t.numRuns ?? 30 },
        );
      }, 120_000);

    if (target.durable)
      it(
        "data survives closing and reopening",
        withStore(async (s, open) => {
          await s.add([{ identityKey: ID_A, dimension: "d", hour: H1, quantity: 9 }], ctxAt(H1 + 1000));
          await s.closeGrains({ hourBefore: H2, now: H1 + 2000 });
          await s.claim({ owner: "a", now: H1 + 3000, leaseMs: 1000, limit: 1 });
          await s.close();
          const again = await open();
          const g = await again.get(grainKey(ID_A, "d", H1));
          assert.equal(g?.quantity, 9);
          assert.equal(g?.state, "closed");
          assert.equal(g?.leaseOwner, "a");
          const re = await again.claim({ owner: "b", now: H1 + 5000, leaseMs: 1000, limit: 1 });
          assert.equal(re[0]?.uncertain, true);
          // The fencing token survives a reopen: the old holder's token stays stale.
          assert.equal(re[0]?.leaseToken, (g?.leaseToken ?? 0) + 1);
          await again.close();
        }),
      );
  });
}
