/**
 * One run of the conformance property over interleavings: a list of numbers decoded into operations of
 * three simulated instances on one storage with a fake clock, checking the store's invariants after each.
 */
import assert from "node:assert/strict";
import { HOUR_MS } from "../runtime/index.js";
import type { GrainLease, StoredGrain, UsageStore } from "./types.js";

const IDS = ["C|pleg1234567890abcdefghijk|cust-1", "C|pleg1234567890abcdefghijk|cust-2"];
const START = Date.UTC(2026, 6, 15, 8, 50);
const GRACE = 300_000;
const LEASE = 60_000;

interface Instance {
  owner: string;
  store: UsageStore;
  /** Checkpoint writer id: a new one after a crash (a new process start). */
  writer: string;
  seq: number;
  /** The last add, to retry it as if its answer had been lost. */
  last?: {
    deltas: { identityKey: string; dimension: string; hour: number; quantity: number }[];
    seq: number;
  };
  leases: Array<GrainLease & { quantity: number; leaseUntil: number }>;
}

/** Runs the operations encoded by `ops` and checks the invariants; throws an assertion error on a breach. */
export async function interleavings(
  first: UsageStore,
  open: () => Promise<UsageStore>,
  ops: readonly number[],
): Promise<void> {
  const second = await open();
  const stores = [first, second, first];
  const instances: Instance[] = stores.map((store, i) => ({
    owner: `owner-${i}`,
    store,
    writer: `w${i}-0`,
    seq: 0,
    leases: [],
  }));
  let now = START;
  let added = 0;
  let crashes = 0;
  /** Quantity of every grain once seen frozen (not pending). */
  const frozen = new Map<string, number>();
  /** Quantity each sent grain was sent with. */
  const sent = new Map<string, number>();
  /** The newest fencing token any claim got, per grain. */
  const newest = new Map<string, number>();
  const openFrom = () => Math.floor((now - GRACE) / HOUR_MS) * HOUR_MS;
  const ctx = () => ({ now, openFrom: openFrom(), carryTo: Math.floor(now / HOUR_MS) * HOUR_MS });

  try {
    for (const op of ops) {
      const inst = instances[op % 3] as Instance;
      // Scrambled, so the small numbers generators favour still give varied quantities and time steps.
      const arg = Math.imul(op ^ 0x5bd1e995, 2654435761) >>> 8;
      switch ((op >> 2) % 8) {
        case 0:
        case 1: {
          const quantity = (arg % 7) + 1;
          const hour = Math.floor(now / HOUR_MS) * HOUR_MS - (arg % 3) * HOUR_MS;
          const deltas = [{ identityKey: IDS[arg % 2] as string, dimension: "d", hour, quantity }];
          const seq = ++inst.seq;
          const r = await inst.store.add(deltas, { ...ctx(), checkpoint: { instance: inst.writer, seq } });
          assert.notEqual(r.duplicate, true, "a new checkpoint seq was taken for a duplicate");
          added += quantity;
          inst.last = { deltas, seq };
          break;
        }
        case 2: {
          // The answer of the last add was lost: the same batch again must not count twice.
          if (!inst.last) break;
          const r = await inst.store.add(inst.last.deltas, {
            ...ctx(),
            checkpoint: { instance: inst.writer, seq: inst.last.seq },
          });
          assert.equal(r.duplicate, true, "a retried checkpoint was applied twice");
          break;
        }
        case 3:
          now += (arg % 40) * 60_000 + 30_000;
          break;
        case 4:
          await inst.store.closeGrains({ hourBefore: openFrom(), now });
          break;
        case 5: {
          const got = await inst.store.claim({ owner: inst.owner, now, leaseMs: LEASE, limit: 3 });
          for (const g of got) {
            assert.ok(g.leaseToken > (newest.get(g.key) ?? 0), "a claim reused a fencing token");
            newest.set(g.key, g.leaseToken);
            inst.leases.push({
              key: g.key,
              leaseToken: g.leaseToken,
              quantity: g.quantity,
              leaseUntil: now + LEASE,
            });
          }
          break;
        }
        case 6: {
          // The first instance holding a lease, from this one on, so outcomes are frequent.
          const by = [0, 1, 2]
            .map((k) => instances[(op + k) % 3] as Instance)
            .find((x) => x.leases.length > 0);
          const lease = by?.leases.shift();
          if (!by || !lease) break;
          const holder = lease.leaseToken === newest.get(lease.key) && now < lease.leaseUntil;
          const kind = arg % 3;
          if (kind === 2) {
            await by.store.release([lease], by.owner);
            break;
          }
          const r = await by.store.settle(
            [
              kind === 0
                ? { key: lease.key, leaseToken: lease.leaseToken, state: "sent", meteringRecordId: "m" }
                : {
                    key: lease.key,
                    leaseToken: lease.leaseToken,
                    state: "retrying",
                    nextAttemptAt: now,
                    error: "Throttling",
                    uncertain: false,
                  },
            ],
            { owner: by.owner, now },
          );
          if (r.applied > 0) {
            assert.ok(holder, `grain ${lease.key} settled by a sender that no longer held it`);
            if (kind === 0) {
              const before = sent.get(lease.key);
              assert.ok(before === undefined, `grain ${lease.key} sent twice`);
              sent.set(lease.key, lease.quantity);
            }
          }
          break;
        }
        default:
          // Crash: the process dies holding its leases; it restarts as a new checkpoint writer.
          inst.leases = [];
          inst.writer = `w${op % 3}-${++crashes}`;
          inst.seq = 0;
          inst.last = undefined;
          now += 1000;
      }
      await check();
    }
  } finally {
    if (second !== first) await second.close().catch(() => {});
  }

  async function check(): Promise<void> {
    const grains: StoredGrain[] = await first.list();
    let total = 0;
    for (const g of grains) {
      total += g.quantity;
      if (g.state === "pending") continue;
      const was = frozen.get(g.key);
      if (was === undefined) frozen.set(g.key, g.quantity);
      else assert.equal(g.quantity, was, `closed grain ${g.key} changed quantity`);
      const s = sent.get(g.key);
      if (s !== undefined) assert.equal(g.quantity, s, `grain ${g.key} sent with another quantity`);
    }
    for (const [key, q] of sent)
      assert.equal(frozen.get(key), q, `sent grain ${key} differs from its record`);
    assert.equal(total, added, "the grains do not sum to the usage added");
  }
}
