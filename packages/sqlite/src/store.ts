/**
 * An embedded durable store on one SQLite file (better-sqlite3, WAL mode). Several processes on the same
 * host may share the file: every operation runs in an IMMEDIATE transaction, so adds, closes and lease
 * claims are atomic across processes.
 */
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { MarketplaceError } from "@marketmeter/core";
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
  type GrainOutcome,
  type GrainState,
  isAppliedCheckpoint,
  type ListQuery,
  type SendTokenOptions,
  type SettleResult,
  type StoredGrain,
  takeToken,
  type UsageDelta,
  type UsageStore,
} from "@marketmeter/core/store";
import Database from "better-sqlite3";

/** Options of {@link sqliteStore}. */
export interface SqliteStoreOptions {
  /**
   * Path of the database file (its folder is created when missing). `":memory:"` gives a private,
   * non-durable database.
   * @default ".marketmeter/usage.db"
   */
  path?: string;
  /** An open better-sqlite3 database to use instead of `path` (it is not closed by `close()`). */
  database?: Database.Database;
  /** Prefix of the table names, to share a database with other data. @default "marketmeter_" */
  tablePrefix?: string;
  /** How long to wait for another process's transaction. @default 5000 */
  busyTimeoutMs?: number;
  /**
   * Settled grains (sent, rejected, expired, uncertain) are deleted this long after they settled; they stay
   * queryable for audits until then.
   * @default 7776000000 (90 days)
   */
  retainSettledMs?: number;
}

interface Row {
  key: string;
  identity: string;
  dimension: string;
  hour: number;
  quantity: number;
  allocations: string | null;
  state: GrainState;
  attempts: number;
  next_attempt_at: number | null;
  lease_owner: string | null;
  lease_until: number | null;
  lease_token: number;
  uncertain: number;
  metering_record_id: string | null;
  reason: string | null;
  last_error: string | null;
  created_at: number;
  updated_at: number;
  closed_at: number | null;
  settled_at: number | null;
}

function fromRow(r: Row): StoredGrain {
  const g: StoredGrain = {
    key: r.key,
    identityKey: r.identity,
    dimension: r.dimension,
    hour: r.hour,
    quantity: r.quantity,
    state: r.state,
    attempts: r.attempts,
    leaseToken: r.lease_token,
    uncertain: r.uncertain === 1,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
  if (r.allocations !== null) g.allocations = JSON.parse(r.allocations) as Record<string, number>;
  if (r.next_attempt_at !== null) g.nextAttemptAt = r.next_attempt_at;
  if (r.lease_owner !== null) g.leaseOwner = r.lease_owner;
  if (r.lease_until !== null) g.leaseUntil = r.lease_until;
  if (r.metering_record_id !== null) g.meteringRecordId = r.metering_record_id;
  if (r.reason !== null) g.reason = r.reason;
  if (r.last_error !== null) g.lastError = r.last_error;
  if (r.closed_at !== null) g.closedAt = r.closed_at;
  if (r.settled_at !== null) g.settledAt = r.settled_at;
  return g;
}

function toRow(g: StoredGrain): Row {
  return {
    key: g.key,
    identity: g.identityKey,
    dimension: g.dimension,
    hour: g.hour,
    quantity: g.quantity,
    allocations: g.allocations ? JSON.stringify(g.allocations) : null,
    state: g.state,
    attempts: g.attempts,
    next_attempt_at: g.nextAttemptAt ?? null,
    lease_owner: g.leaseOwner ?? null,
    lease_until: g.leaseUntil ?? null,
    lease_token: g.leaseToken,
    uncertain: g.uncertain ? 1 : 0,
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

function invalid(message: string): never {
  throw new MarketplaceError("INVALID_CONFIG", message);
}

/**
 * A durable store on a local SQLite file.
 *
 * @example
 * import { createMarketplace } from "@marketmeter/core";
 * import { sqliteStore } from "@marketmeter/sqlite";
 * const marketplace = createMarketplace({ store: sqliteStore({ path: ".marketmeter/usage.db" }), … });
 */
export function sqliteStore(options: SqliteStoreOptions = {}): UsageStore {
  if (typeof options !== "object" || options === null) invalid("sqliteStore options must be an object");
  const known = new Set(["path", "database", "tablePrefix", "busyTimeoutMs", "retainSettledMs"]);
  for (const k of Object.keys(options)) if (!known.has(k)) invalid(`sqliteStore: unknown option "${k}"`);
  const prefix = options.tablePrefix ?? "marketmeter_";
  if (typeof prefix !== "string" || !/^[A-Za-z_][A-Za-z0-9_]{0,40}$/.test(prefix))
    invalid("sqliteStore tablePrefix must be letters, digits and underscores (starting with a letter or _)");
  const busy = options.busyTimeoutMs ?? 5000;
  if (!Number.isSafeInteger(busy) || busy < 0)
    invalid("sqliteStore busyTimeoutMs must be a non-negative integer");
  const retain = options.retainSettledMs ?? 90 * 24 * 3_600_000;
  if (!Number.isSafeInteger(retain) || retain < 0)
    invalid("sqliteStore retainSettledMs must be a non-negative integer");
  if (options.database !== undefined && options.path !== undefined)
    invalid("sqliteStore takes path or database, not both");

  let db: Database.Database;
  const owned = options.database === undefined;
  const path = options.path ?? ".marketmeter/usage.db";
  if (options.database) {
    if (typeof options.database !== "object" || typeof options.database.prepare !== "function")
      invalid("sqliteStore database must be a better-sqlite3 Database");
    db = options.database;
  } else {
    if (typeof path !== "string" || path.length === 0) invalid("sqliteStore path must be a non-empty string");
    try {
      if (path !== ":memory:" && !path.startsWith("file:")) mkdirSync(dirname(path), { recursive: true });
      db = new Database(path);
    } catch (err) {
      throw new MarketplaceError(
        "STORE_ERROR",
        `sqliteStore: cannot open ${path}: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }
  const durable = options.database ? db.memory !== true : path !== ":memory:";
  db.pragma(`busy_timeout = ${busy}`);
  if (!db.memory) db.pragma("journal_mode = WAL");
  // NORMAL with WAL survives process crashes; only an OS crash or power loss can drop the last commits.
  db.pragma("synchronous = NORMAL");
  const t = `${prefix}grains`;
  // Highest applied checkpoint seq per writing instance (idempotent adds), and shared send-token buckets.
  const cpt = `${prefix}checkpoints`;
  const bt = `${prefix}send_tokens`;
  db.exec(`
    CREATE TABLE IF NOT EXISTS ${t} (
      key TEXT PRIMARY KEY,
      identity TEXT NOT NULL,
      dimension TEXT NOT NULL,
      hour INTEGER NOT NULL,
      quantity INTEGER NOT NULL,
      allocations TEXT,
      state TEXT NOT NULL,
      attempts INTEGER NOT NULL DEFAULT 0,
      next_attempt_at INTEGER,
      lease_owner TEXT,
      lease_until INTEGER,
      lease_token INTEGER NOT NULL DEFAULT 0,
      uncertain INTEGER NOT NULL DEFAULT 0,
      metering_record_id TEXT,
      reason TEXT,
      last_error TEXT,
      created_at INTEGER NOT NULL,
      updated_at INTEGER NOT NULL,
      closed_at INTEGER,
      settled_at INTEGER
    ) WITHOUT ROWID;
    CREATE INDEX IF NOT EXISTS ${t}_state ON ${t} (state, hour);
    CREATE INDEX IF NOT EXISTS ${t}_hour ON ${t} (hour);
    CREATE INDEX IF NOT EXISTS ${t}_identity ON ${t} (identity, hour);
    CREATE TABLE IF NOT EXISTS ${cpt} (
      instance TEXT PRIMARY KEY,
      seq INTEGER NOT NULL,
      applied_at INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS ${bt} (
      bucket TEXT PRIMARY KEY,
      tokens REAL NOT NULL,
      updated_at INTEGER NOT NULL
    ) WITHOUT ROWID;
  `);
  // Files written before fencing tokens existed get the column; in a transaction, so two processes
  // opening the same old file do not both add it.
  db.transaction(() => {
    const columns = db.prepare<[], { name: string }>(`PRAGMA table_info(${t})`).all();
    if (!columns.some((c) => c.name === "lease_token"))
      db.exec(`ALTER TABLE ${t} ADD COLUMN lease_token INTEGER NOT NULL DEFAULT 0`);
  }).immediate();

  const getStmt = db.prepare<[string], Row>(`SELECT * FROM ${t} WHERE key = ?`);
  const putStmt = db.prepare(
    `INSERT OR REPLACE INTO ${t} (${COLUMNS.join(", ")}) VALUES (${COLUMNS.map((c) => `@${c}`).join(", ")})`,
  );
  const closeAll = db.prepare(
    `UPDATE ${t} SET state = 'closed', closed_at = @now, next_attempt_at = @now, updated_at = @now WHERE state = 'pending' AND hour < @before`,
  );
  const closeOne = db.prepare(
    `UPDATE ${t} SET state = 'closed', closed_at = @now, next_attempt_at = @now, updated_at = @now WHERE state = 'pending' AND hour < @before AND identity = @identity`,
  );
  const dueStmt = db.prepare<
    { now: number; ignoreBackoff: number; identity: string | null; limit: number },
    Row
  >(
    `SELECT * FROM ${t} WHERE state IN ('closed', 'retrying')
       AND (lease_until IS NULL OR lease_until <= @now)
       AND (@ignoreBackoff = 1 OR next_attempt_at IS NULL OR next_attempt_at <= @now)
       AND (@identity IS NULL OR identity = @identity)
     ORDER BY hour, key LIMIT @limit`,
  );
  const pruneStmt = db.prepare(`DELETE FROM ${t} WHERE settled_at IS NOT NULL AND settled_at < ?`);
  const cpGet = db.prepare<[string], { seq: number }>(`SELECT seq FROM ${cpt} WHERE instance = ?`);
  const cpPut = db.prepare(
    `INSERT INTO ${cpt} (instance, seq, applied_at) VALUES (?, ?, ?) ON CONFLICT (instance) DO UPDATE SET seq = excluded.seq, applied_at = excluded.applied_at`,
  );
  const cpPrune = db.prepare(`DELETE FROM ${cpt} WHERE applied_at < ?`);
  const bucketGet = db.prepare<[string], { tokens: number; updated_at: number }>(
    `SELECT tokens, updated_at FROM ${bt} WHERE bucket = ?`,
  );
  const bucketPut = db.prepare(`INSERT OR REPLACE INTO ${bt} (bucket, tokens, updated_at) VALUES (?, ?, ?)`);
  const countStmt = db.prepare<[], { state: GrainState; n: number }>(
    `SELECT state, COUNT(*) AS n FROM ${t} GROUP BY state`,
  );

  let closed = false;
  let lastPrune = 0;
  const check = () => {
    if (closed) throw new MarketplaceError("STORE_ERROR", "sqlite store is closed");
  };
  const access = {
    get: (k: string) => {
      const r = getStmt.get(k);
      return r ? fromRow(r) : undefined;
    },
    put: (g: StoredGrain) => void putStmt.run(toRow(g)),
  };
  const wrap = <T>(what: string, fn: () => T): T => {
    check();
    try {
      return fn();
    } catch (err) {
      if (err instanceof MarketplaceError) throw err;
      throw new MarketplaceError("STORE_ERROR", `sqlite store ${what} failed: ${(err as Error).message}`, {
        cause: err,
      });
    }
  };

  const addTx = db.transaction((deltas: readonly UsageDelta[], ctx: AddContext): AddResult => {
    const cp = ctx.checkpoint;
    if (cp && isAppliedCheckpoint(cpGet.get(cp.instance)?.seq, cp.seq))
      return { carried: [], duplicate: true };
    const carried = applyAdd(access, deltas, ctx);
    // In the same transaction as the grains: the add and its seq are committed together or not at all.
    if (cp) cpPut.run(cp.instance, cp.seq, ctx.now);
    return { carried };
  });
  const tokenTx = db.transaction((bucket: string, o: SendTokenOptions) => {
    const row = bucketGet.get(bucket);
    const r = takeToken(row && { tokens: row.tokens, updatedAt: row.updated_at }, Date.now(), o);
    bucketPut.run(bucket, r.state.tokens, r.state.updatedAt);
    return r.waitMs;
  });
  const closeTx = db.transaction((f: CloseGrainsFilter) => {
    const r =
      f.identityKey === undefined
        ? closeAll.run({ now: f.now, before: f.hourBefore })
        : closeOne.run({ now: f.now, before: f.hourBefore, identity: f.identityKey });
    return r.changes;
  });
  const claimTx = db.transaction((o: ClaimOptions) =>
    dueStmt
      .all({
        now: o.now,
        ignoreBackoff: o.ignoreBackoff ? 1 : 0,
        identity: o.identityKey ?? null,
        limit: o.limit,
      })
      .map((r) => {
        const c = applyClaim(fromRow(r), o.owner, o.now, o.leaseMs);
        putStmt.run(toRow(c));
        return c;
      }),
  );
  const settleTx = db.transaction((outcomes: readonly GrainOutcome[], owner: string, now: number) => {
    const result: SettleResult = { applied: 0, refused: [] };
    for (const o of outcomes) {
      const g = access.get(o.key);
      const next = g && applySettle(g, o, owner, now);
      if (next) {
        putStmt.run(toRow(next));
        result.applied++;
      } else result.refused.push(o.key);
    }
    return result;
  });
  const releaseTx = db.transaction((leases: readonly GrainLease[], owner: string) => {
    let n = 0;
    for (const l of leases) {
      const g = access.get(l.key);
      const next = g && applyRelease(g, owner, l.leaseToken);
      if (next) {
        putStmt.run(toRow(next));
        n++;
      }
    }
    return n;
  });

  return {
    kind: "sqlite",
    durable,
    async add(deltas, ctx): Promise<AddResult> {
      return wrap("add", () => {
        checkCheckpoint(ctx.checkpoint);
        return addTx.immediate(deltas, ctx);
      });
    },
    async closeGrains(filter): Promise<number> {
      return wrap("closeGrains", () => {
        const n = closeTx.immediate(filter);
        if (filter.now - lastPrune > 3_600_000) {
          lastPrune = filter.now;
          pruneStmt.run(filter.now - retain);
          cpPrune.run(filter.now - CHECKPOINT_RETENTION_MS);
        }
        return n;
      });
    },
    async claim(o): Promise<StoredGrain[]> {
      return wrap("claim", () => claimTx.immediate(o));
    },
    async settle(outcomes, ctx): Promise<SettleResult> {
      return wrap("settle", () => settleTx.immediate(outcomes, ctx.owner, ctx.now));
    },
    async release(leases, owner): Promise<number> {
      return wrap("release", () => releaseTx.immediate(leases, owner));
    },
    async get(key): Promise<StoredGrain | undefined> {
      return wrap("get", () => access.get(key));
    },
    async list(q: ListQuery = {}): Promise<StoredGrain[]> {
      return wrap("list", () => {
        const where: string[] = [];
        const params: Record<string, unknown> = { limit: q.limit ?? 10_000 };
        if (q.hourFrom !== undefined) {
          where.push("hour >= @hourFrom");
          params.hourFrom = q.hourFrom;
        }
        if (q.hourTo !== undefined) {
          where.push("hour < @hourTo");
          params.hourTo = q.hourTo;
        }
        if (q.identityKey !== undefined) {
          where.push("identity = @identity");
          params.identity = q.identityKey;
        }
        if (q.states) {
          const states = q.states.filter((s) => GRAIN_STATES.includes(s));
          if (states.length === 0) return [];
          where.push(`state IN (${states.map((s) => `'${s}'`).join(", ")})`);
        }
        const sql = `SELECT * FROM ${t} ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY hour, key LIMIT @limit`;
        return (db.prepare(sql).all(params) as Row[]).map(fromRow);
      });
    },
    async counts(): Promise<Record<GrainState, number>> {
      return wrap("counts", () => {
        const out = Object.fromEntries(GRAIN_STATES.map((s) => [s, 0])) as Record<GrainState, number>;
        for (const r of countStmt.all()) out[r.state] = r.n;
        return out;
      });
    },
    async takeSendToken(bucket, o): Promise<number> {
      return wrap("takeSendToken", () => {
        checkSendToken(bucket, o);
        return tokenTx.immediate(bucket, o);
      });
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      if (owned) db.close();
    },
  };
}
