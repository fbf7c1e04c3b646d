import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { defined } from "../../test/defined.js";
import { HOUR_MS } from "../runtime/index.js";
import {
  applyAdd,
  applyClaim,
  applyRelease,
  applySettle,
  grainKey,
  isClaimable,
  MAX_QUANTITY,
  newGrain,
  parseGrainKey,
  splitDelta,
} from "./grain.js";
import type { StoredGrain } from "./types.js";

const H = Date.UTC(2026, 6, 15, 10);

describe("grain rules", () => {
  it("property: applyAdd conserves quantity, never passes int32, never touches non-pending grains", () => {
    const op = fc.record({
      id: fc.constantFrom("C|p|a", "C|p|b"),
      hourOffset: fc.integer({ min: -3, max: 1 }),
      q: fc.oneof(fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 0, max: MAX_QUANTITY })),
      close: fc.boolean(),
      tagged: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
        const rows = new Map<string, StoredGrain>();
        const access = { get: (k: string) => rows.get(k), put: (g: StoredGrain) => void rows.set(g.key, g) };
        let added = 0;
        const ctx = { now: H + 30 * 60_000, openFrom: H - HOUR_MS, carryTo: H };
        for (const o of ops) {
          const frozen = new Map(
            [...rows].filter(([, g]) => g.state !== "pending").map(([k, g]) => [k, g.quantity]),
          );
          const delta = {
            identityKey: o.id,
            dimension: "d",
            hour: H + o.hourOffset * HOUR_MS,
            quantity: o.q,
            ...(o.tagged ? { allocations: { x: Math.floor(o.q / 2), "": o.q - Math.floor(o.q / 2) } } : {}),
          };
          applyAdd(access, [delta], ctx);
          added += o.q;
          for (const [k, q] of frozen) expect(rows.get(k)?.quantity).toBe(q);
          if (o.close)
            for (const g of rows.values()) if (g.hour < H) rows.set(g.key, { ...g, state: "closed" });
        }
        let total = 0;
        for (const g of rows.values()) {
          expect(g.quantity).toBeLessThanOrEqual(MAX_QUANTITY);
          if (g.allocations) expect(Object.values(g.allocations).reduce((a, b) => a + b, 0)).toBe(g.quantity);
          total += g.quantity;
        }
        expect(total).toBe(added);
      }),
      { numRuns: 300 },
    );
  });

  it("splitDelta keeps both parts consistent", () => {
    const [a, b] = splitDelta(
      { identityKey: "x", dimension: "d", hour: H, quantity: 10, allocations: { a: 3, b: 7 } },
      5,
    );
    expect(a).toMatchObject({ quantity: 5, allocations: { a: 3, b: 2 } });
    expect(b).toMatchObject({ quantity: 5, allocations: { b: 5 } });
  });

  it("grain keys round-trip", () => {
    const k = grainKey("L|p|123456789012|arn:aws:x:y:z:w", "api calls|x", H);
    expect(parseGrainKey(k)).toEqual({
      identityKey: "L|p|123456789012|arn:aws:x:y:z:w",
      dimension: "api calls|x",
      hour: H,
    });
  });

  it("property: only the holder of the latest claim, inside its lease, settles or releases a grain", () => {
    const op = fc.record({
      kind: fc.constantFrom("claim", "settle", "retry", "release"),
      owner: fc.constantFrom("a", "b"),
      // Which of the owner's claims it answers for: its latest, or an older one.
      stale: fc.boolean(),
      dt: fc.integer({ min: 0, max: 1500 }),
    });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
        let g: StoredGrain = { ...newGrain("C|p|a", "d", H, H), state: "closed" };
        let now = H + HOUR_MS;
        const tokens: Record<string, number[]> = { a: [], b: [] };
        let holder: { owner: string; token: number; until: number } | undefined;
        let everLeased = false;
        for (const o of ops) {
          now += o.dt;
          const mine = defined(tokens[o.owner]);
          const token = (o.stale ? mine[0] : mine[mine.length - 1]) ?? 0;
          if (o.kind === "claim") {
            if (!isClaimable(g, now)) continue;
            const wasLeased = g.leaseOwner !== undefined;
            g = applyClaim(g, o.owner, now, 1000);
            expect(g.leaseToken).toBe(mine.length + defined(tokens[o.owner === "a" ? "b" : "a"]).length + 1);
            if (wasLeased) expect(g.uncertain).toBe(true);
            mine.push(g.leaseToken);
            holder = { owner: o.owner, token: g.leaseToken, until: now + 1000 };
            everLeased = true;
            continue;
          }
          const live =
            holder !== undefined && holder.owner === o.owner && holder.token === token && now < holder.until;
          const open = g.state === "closed" || g.state === "retrying";
          if (o.kind === "release") {
            const next = applyRelease(g, o.owner, token);
            const owns = g.leaseOwner === o.owner && g.leaseToken === token;
            expect(next !== undefined).toBe(owns);
            if (next) {
              g = next;
              holder = undefined;
            }
            continue;
          }
          const outcome =
            o.kind === "settle"
              ? { leaseToken: token, state: "sent" as const }
              : {
                  leaseToken: token,
                  state: "retrying" as const,
                  nextAttemptAt: now,
                  error: "x",
                  uncertain: true,
                };
          const next = applySettle(g, outcome, o.owner, now);
          expect(next !== undefined).toBe(live && open);
          if (next) {
            g = next;
            holder = undefined;
          }
        }
        if (!everLeased) expect(g.leaseToken).toBe(0);
      }),
      { numRuns: 500 },
    );
  });
});
