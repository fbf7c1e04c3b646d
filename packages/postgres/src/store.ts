/**
 * The usage store on PostgreSQL, shared by every instance of an app. Each method is one transaction that
 * locks the rows it reads (`FOR UPDATE`) and applies the core's grain rules in JavaScript, so the rules
 * are the same as every other store's; claims skip rows another instance holds (`SKIP LOCKED`).
 */
import {
  type GrainOutcome,
  type GrainState,
  MarketplaceError,
  type StoredGrain,
  type UsageStore,
} from "@marketmeter/core";
import {
  type AddContext,
  type AddResult,
  applyAdd,
  applyClaim,
  applyRelease,
  applySettle,
  CHECKPOINT_RETENTION_MS,
  type ClaimOptions,
  type CloseGrainsFilter,
  checkCheckpoint,
  checkSendToken,
  GRAIN_STATES,
  type GrainLease,
  grainKey,
  isAppliedCheckpoint,
  type ListQuery,
  type SendTokenOptions,
  type SettleResult,
  type UsageDelta,
} from "@marketmeter/core/store";
import {
  ensureSchema,
  invalid,
  openConnection,
  type PgClientLike,
  type PostgresConnectionOptions,
  storeError,
  transaction,
} from "./connection.js";

const HOUR_MS = 3_600_000;

/** Options of {@link postgresStore}. */
export interface PostgresStoreOptions extends PostgresConnectionOptions {
  /**
   * Settled grains (sent, rejected, expired, uncertain) are deleted this long after they settled; they stay
   * queryable for audits until then.
   * @default 7776000000 (90 days)
   */
  retainSettledMs?: number;
}

/** The PostgreSQL usage store: a `UsageStore` with an explicit start-up check. */
export interface PostgresStore extends UsageStore {
  /**
   * Connects and creates or checks the tables. Every method does this on first use; call it at start-up
   * to fail fast on wrong connection settings or a schema newer than this package.
   */
  ready(): Promise<void>;
}

interface Row {
  key: string;
  identity: string;
  dimension: string;
  hour: string | number;
  quantity: string | number;
  allocations: Record<string, number> | null;
  state: GrainState;
  attempts: number;
  next_attempt_at: string | number | null;
  lease_owner: string | null;
  lease_until: string | number | null;
  lease_token: string | number;
  uncertain: boolean;
  metering_record_id: string | null;
  reason: string | null;
  last_error: string | null;
  created_at: string | number;
  updated_at: string | number;
  closed_at: string | number | null;
  settled_at: string | number | null;
}

// bigint columns come back as strings; every value stored is a safe integer (epoch ms, int32 quantities).
function fromRow(r: Row): StoredGrain {
  const g: StoredGrain = {
    key: r.key,
    identityKey: r.identity,
    dimension: r.dimension,
    hour: Number(r.hour),
    quantity: Number(r.quantity),
    state: r.state,
    attempts: r.attempts,
    leaseToken: Number(r.lease_token),
    uncertain: r.uncertain,
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
  if (r.allocations !== null) g.allocations = r.allocations;
  if (r.next_attempt_at !== null) g.nextAttemptAt = Number(r.next_attempt_at);
  if (r.lease_owner !== null) g.leaseOwner = r.lease_owner;
  if (r.lease_until !== null) g.leaseUntil = Number(r.lease_until);
  if (r.metering_record_id !== null) g.meteringRecordId = r.metering_record_id;
  if (r.reason !== null) g.reason = r.reason;
  if (r.last_error !== null) g.lastError = r.last_error;
  if (r.closed_at !== null) g.closedAt = Number(r.closed_at);
  if (r.settled_at !== null) g.settledAt = Number(r.settled_at);
  return g;
}

function toRow(g: StoredGrain): Row {
  return {
    key: g.key,
    identity: g.identityKey,
    dimension: g.dimension,
    hour: g.hour,
    quantity: g.quantity,
    allocations: g.allocations ?? null,
    state: g.state,
    attempts: g.attempts,
    next_attempt_at: g.nextAttemptAt ?? null,
    lease_owner: g.leaseOwner ?? null,
    lease_until: g.leaseUntil ?? null,
    lease_token: g.leaseToken,
    uncertain: g.uncertain,
    metering_record_id: g.meteringRecordId ?? null,
    reason: g.reason ?? null,
    last_error: g.lastError ?? null,
    created_at: g.createdAt,
    updated_at: g.updatedAt,
    closed_at: g.closedAt ?? null,
    settled_at: g.settledAt ?? null,
  };
}

const COLUMNS = [
  "key",
  "identity",
  "dimension",
  "hour",
  "quantity",
  "allocations",
  "state",
  "attempts",
  "next_attempt_at",
  "lease_owner",
  "lease_until",
  "lease_token",
  "uncertain",
  "metering_record_id",
  "reason",
  "last_error",
  "created_at",
  "updated_at",
  "closed_at",
  "settled_at",
] as const;

/** Signals that the rule asked for a row not loaded yet: lock it and run the rule again. */
class Missing {
  constructor(readonly key: string) {}
}

/**
 * A usage store on PostgreSQL that several app instances share: usage from every instance is summed per
 * grain, each grain is claimed by one sender at a time (a lease with a fencing token) and settled once.
 *
 * @example
 * import pg from "pg";
 * import { createMarketplace } from "@marketmeter/core";
 * import { postgresStore } from "@marketmeter/postgres";
 * const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL });
 * const marketplace = createMarketplace({ store: postgresStore({ pool }), … });
 */
export function postgresStore(options: PostgresStoreOptions): PostgresStore {
  const c = openConnection(options, "postgresStore", ["retainSettledMs"]);
  const retain = options.retainSettledMs ?? 90 * 24 * HOUR_MS;
  if (!Number.isSafeInteger(retain) || retain < 0)
    invalid("postgresStore retainSettledMs must be a non-negative integer");
  const t = `${c.q}.grains`;
  const cols = COLUMNS.join(", ");
  const sets = COLUMNS.filter((k) => k !== "key")
    .map((k) => `${k} = r.${k}`)
    .join(", ");

  let closed = false;
  let lastPrune = 0;
  // Buckets whose row this handle has created (or found), so a take is one UPDATE.
  const buckets = new Set<string>();

  const run = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    if (closed) throw new MarketplaceError("STORE_ERROR", "postgres store is closed");
    await ensureSchema(c);
    try {
      return await fn();
    } catch (err) {
      throw storeError(c, what, err);
    }
  };

  const lock = async (client: PgClientLike, keys: Iterable<string>): Promise<StoredGrain[]> => {
    // Sorted, so two transactions locking overlapping sets take the locks in the same order.
    const list = [...new Set(keys)].sort();
    if (list.length === 0) return [];
    const r = await client.query<Row>(
      `SELECT * FROM ${t} WHERE key = ANY($1::text[]) ORDER BY key FOR UPDATE`,
      [list],
    );
    return r.rows.map(fromRow);
  };

  const write = async (client: PgClientLike, grains: StoredGrain[], existing: Set<string>) => {
    const updates = grains.filter((g) => existing.has(g.key)).map(toRow);
    const inserts = grains.filter((g) => !existing.has(g.key)).map(toRow);
    if (updates.length > 0)
      await client.query(
        `UPDATE ${t} AS g SET ${sets} FROM jsonb_populate_recordset(null::${t}, $1::jsonb) AS r WHERE g.key = r.key`,
        [JSON.stringify(updates)],
      );
    // A plain insert: a row another instance inserted meanwhile fails it, and the transaction is retried.
    if (inserts.length > 0)
      await client.query(
        `INSERT INTO ${t} (${cols}) SELECT ${cols} FROM jsonb_populate_recordset(null::${t}, $1::jsonb)`,
        [JSON.stringify(inserts)],
      );
  };

  const addTx = (deltas: readonly UsageDelta[], ctx: AddContext) =>
    transaction(c, async (client): Promise<AddResult> => {
      const cp = ctx.checkpoint;
      let cpSeen = false;
      if (cp) {
        const r = await client.query<{ seq: string }>(
          `SELECT seq FROM ${c.q}.checkpoints WHERE instance = $1 FOR UPDATE`,
          [cp.instance],
        );
        const last = r.rows[0] ? Number(r.rows[0].seq) : undefined;
        if (isAppliedCheckpoint(last, cp.seq)) return { carried: [], duplicate: true };
        cpSeen = last !== undefined;
      }
      const loaded = new Map<string, StoredGrain>();
      const tried = new Set<string>();
      const want = new Set<string>();
      for (const d of deltas) {
        want.add(grainKey(d.identityKey, d.dimension, d.hour));
        if (d.hour < ctx.openFrom) want.add(grainKey(d.identityKey, d.dimension, ctx.carryTo));
      }
      for (;;) {
        const fresh = [...want].filter((k) => !tried.has(k));
        for (const k of fresh) tried.add(k);
        for (const g of await lock(client, fresh)) loaded.set(g.key, g);
        want.clear();
        // The rule runs on a copy of the locked rows; a row it asks for that is not locked yet is
        // locked and the rule runs again from the start, so it only ever sees rows this transaction holds.
        const view = new Map(loaded);
        const touched = new Map<string, StoredGrain>();
        let carried: AddResult["carried"];
        try {
          carried = applyAdd(
            {
              get: (k) => {
                if (!tried.has(k)) throw new Missing(k);
                return view.get(k);
              },
              put: (g) => {
                view.set(g.key, g);
                touched.set(g.key, g);
              },
            },
            deltas,
            ctx,
          );
        } catch (err) {
          if (!(err instanceof Missing)) throw err;
          want.add(err.key);
          continue;
        }
        await write(client, [...touched.values()], new Set(loaded.keys()));
        // Same transaction as the grains. A plain insert: two first adds of one instance race into a
        // unique violation and the loser is retried, seeing the winner's seq.
        if (cp)
          await client.query(
            cpSeen
              ? `UPDATE ${c.q}.checkpoints SET seq = $2, applied_at = clock_timestamp() WHERE instance = $1`
              : `INSERT INTO ${c.q}.checkpoints (instance, seq, applied_at) VALUES ($1, $2, clock_timestamp())`,
            [cp.instance, cp.seq],
          );
        return { carried };
      }
    });

  const claimTx = (o: ClaimOptions) =>
    transaction(c, async (client) => {
      const r = await client.query<Row>(
        `SELECT * FROM ${t} WHERE state IN ('closed', 'retrying')
           AND (lease_until IS NULL OR lease_until <= $1)
           AND ($2::boolean OR next_attempt_at IS NULL OR next_attempt_at <= $1)
           AND ($3::text IS NULL OR identity = $3)
         ORDER BY hour, key LIMIT $4 FOR UPDATE SKIP LOCKED`,
        [o.now, o.ignoreBackoff === true, o.identityKey ?? null, o.limit],
      );
      const claimed = r.rows.map((row) => applyClaim(fromRow(row), o.owner, o.now, o.leaseMs));
      await write(client, claimed, new Set(claimed.map((g) => g.key)));
      return claimed;
    });

  const settleTx = (outcomes: readonly GrainOutcome[], owner: string, now: number) =>
    transaction(c, async (client) => {
      const rows = new Map(
        (
          await lock(
            client,
            outcomes.map((o) => o.key),
          )
        ).map((g) => [g.key, g]),
      );
      const result: SettleResult = { applied: 0, refused: [] };
      const changed = new Map<string, StoredGrain>();
      for (const o of outcomes) {
        const g = rows.get(o.key);
        const next = g && applySettle(g, o, owner, now);
        if (next) {
          rows.set(o.key, next);
          changed.set(o.key, next);
          result.applied++;
        } else result.refused.push(o.key);
      }
      await write(client, [...changed.values()], new Set(changed.keys()));
      return result;
    });

  const releaseTx = (leases: readonly GrainLease[], owner: string) =>
    transaction(c, async (client) => {
      const rows = new Map(
        (
          await lock(
            client,
            leases.map((l) => l.key),
          )
        ).map((g) => [g.key, g]),
      );
      const changed = new Map<string, StoredGrain>();
      let n = 0;
      for (const l of leases) {
        const g = rows.get(l.key);
        const next = g && applyRelease(g, owner, l.leaseToken);
        if (next) {
          rows.set(l.key, next);
          changed.set(l.key, next);
          n++;
        }
      }
      await write(client, [...changed.values()], new Set(changed.keys()));
      return n;
    });

  return {
    kind: "postgres",
    durable: true,
    ready: () => run("start-up", async () => {}),
    async add(deltas, ctx): Promise<AddResult> {
      checkCheckpoint(ctx.checkpoint);
      return run("add", () => addTx(deltas, ctx));
    },
    async closeGrains(filter: CloseGrainsFilter): Promise<number> {
      return run("closeGrains", async () => {
        // One statement: every instance sees the grain either open or frozen, never in between.
        const r = await c.pool.query(
          `UPDATE ${t} SET state = 'closed', closed_at = $1, next_attempt_at = $1, updated_at = $1
             WHERE state = 'pending' AND hour < $2 AND ($3::text IS NULL OR identity = $3)`,
          [filter.now, filter.hourBefore, filter.identityKey ?? null],
        );
        if (filter.now - lastPrune > HOUR_MS) {
          lastPrune = filter.now;
          await c.pool.query(`DELETE FROM ${t} WHERE settled_at IS NOT NULL AND settled_at < $1`, [
            filter.now - retain,
          ]);
          await c.pool.query(
            `DELETE FROM ${c.q}.checkpoints WHERE applied_at < clock_timestamp() - make_interval(secs => $1)`,
            [CHECKPOINT_RETENTION_MS / 1000],
          );
        }
        return r.rowCount ?? 0;
      });
    },
    async claim(o): Promise<StoredGrain[]> {
      return run("claim", () => claimTx(o));
    },
    async settle(outcomes, ctx): Promise<SettleResult> {
      return run("settle", () => settleTx(outcomes, ctx.owner, ctx.now));
    },
    async release(leases, owner): Promise<number> {
      return run("release", () => releaseTx(leases, owner));
    },
    async get(key): Promise<StoredGrain | undefined> {
      return run("get", async () => {
        const r = await c.pool.query<Row>(`SELECT * FROM ${t} WHERE key = $1`, [key]);
        return r.rows[0] ? fromRow(r.rows[0]) : undefined;
      });
    },
    async list(q: ListQuery = {}): Promise<StoredGrain[]> {
      return run("list", async () => {
        const states = q.states ? q.states.filter((s) => GRAIN_STATES.includes(s)) : null;
        if (states && states.length === 0) return [];
        const r = await c.pool.query<Row>(
          `SELECT * FROM ${t}
             WHERE ($1::bigint IS NULL OR hour >= $1) AND ($2::bigint IS NULL OR hour < $2)
               AND ($3::text IS NULL OR identity = $3) AND ($4::text[] IS NULL OR state = ANY($4))
             ORDER BY hour, key LIMIT $5`,
          [q.hourFrom ?? null, q.hourTo ?? null, q.identityKey ?? null, states, q.limit ?? 10_000],
        );
        return r.rows.map(fromRow);
      });
    },
    async counts(): Promise<Record<GrainState, number>> {
      return run("counts", async () => {
        const out = Object.fromEntries(GRAIN_STATES.map((s) => [s, 0])) as Record<GrainState, number>;
        const r = await c.pool.query<{ state: GrainState; n: string }>(
          `SELECT state, count(*) AS n FROM ${t} GROUP BY state`,
        );
        for (const row of r.rows) out[row.state] = Number(row.n);
        return out;
      });
    },
    async takeSendToken(bucket: string, o: SendTokenOptions): Promise<number> {
      checkSendToken(bucket, o);
      return run("takeSendToken", async () => {
        if (!buckets.has(bucket)) {
          await c.pool.query(
            `INSERT INTO ${c.q}.send_tokens (bucket, tokens, updated_at) VALUES ($1, $2, clock_timestamp()) ON CONFLICT (bucket) DO NOTHING`,
            [bucket, o.burst],
          );
          buckets.add(bucket);
        }
        // One statement on the row lock, on the database's clock (read once), so instance clocks do not matter.
        const r = await c.pool.query<{ tokens: number; taken: boolean }>(
          `UPDATE ${c.q}.send_tokens AS b SET (tokens, taken, updated_at) = (
             SELECT CASE WHEN x.avail >= 1 THEN x.avail - 1 ELSE x.avail END, x.avail >= 1, x.at
             FROM (SELECT greatest(b.updated_at, n.at) AS at,
                          least($3::float8, b.tokens + $2::float8 * greatest(0, extract(epoch FROM n.at - b.updated_at)::float8)) AS avail
                   FROM (SELECT clock_timestamp() AS at) AS n) AS x)
           WHERE b.bucket = $1 RETURNING b.tokens, b.taken`,
          [bucket, o.ratePerSecond, o.burst],
        );
        const row = r.rows[0];
        if (!row) {
          buckets.delete(bucket);
          throw new Error(`send token bucket ${bucket} is missing`);
        }
        if (row.taken) return 0;
        return Math.max(1, Math.ceil(((1 - Number(row.tokens)) * 1000) / o.ratePerSecond));
      });
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      if (c.owned) await c.pool.end?.();
    },
  };
}
