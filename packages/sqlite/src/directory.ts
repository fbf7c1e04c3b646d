/**
 * The customer directory on SQLite (better-sqlite3): buyers, pending registrations and the seen-set of
 * lifecycle notification ids survive restarts, so a redelivered event changes nothing. Every call is
 * synchronous, which lets the directory cache load at construction; registration claims run in an
 * IMMEDIATE transaction so two processes sharing the file cannot both link one registration.
 */
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { MarketplaceError } from "@marketmeter/core";
import {
  type ClaimResult,
  type CustomerRecord,
  type DirectoryStore,
  parseCustomerRecord,
  parseStoredRegistration,
  type StoredRegistration,
} from "@marketmeter/core/store";
import Database from "better-sqlite3";

/** Options of {@link sqliteDirectoryStore}. */
export interface SqliteDirectoryStoreOptions {
  /**
   * Path of the database file (its folder is created when missing). `":memory:"` gives a private,
   * non-durable database.
   * @default ".marketmeter/buyers.db"
   */
  path?: string;
  /** An open better-sqlite3 database to use instead of `path` (it is not closed by `close()`). */
  database?: Database.Database;
  /** Prefix of the table names, to share a database with other data. @default "marketmeter_" */
  tablePrefix?: string;
  /** How long to wait for another process's transaction. @default 5000 */
  busyTimeoutMs?: number;
  /** How many notification ids the seen-set keeps (oldest dropped first). @default 10000 */
  maxSeenEvents?: number;
}

function invalid(message: string): never {
  throw new MarketplaceError("INVALID_CONFIG", message);
}

function storeError(message: string, cause: unknown): MarketplaceError {
  return new MarketplaceError("STORE_ERROR", message, { cause });
}

/**
 * Creates the SQLite directory store.
 *
 * @example
 * import { createBuyers } from "@marketmeter/core";
 * import { sqliteDirectoryStore } from "@marketmeter/sqlite";
 * const buyers = createBuyers({ products: ["prod-code"], directory: sqliteDirectoryStore({ path: "data/buyers.db" }) });
 */
export function sqliteDirectoryStore(options: SqliteDirectoryStoreOptions = {}): DirectoryStore {
  if (typeof options !== "object" || options === null)
    invalid("sqliteDirectoryStore options must be an object");
  const prefix = options.tablePrefix ?? "marketmeter_";
  if (typeof prefix !== "string" || !/^[A-Za-z_][A-Za-z0-9_]{0,40}$/.test(prefix))
    invalid("tablePrefix must be letters, digits and underscores (max 41), not starting with a digit");
  const busy = options.busyTimeoutMs ?? 5000;
  if (!Number.isSafeInteger(busy) || busy < 0) invalid("busyTimeoutMs must be a non-negative integer");
  const maxSeen = options.maxSeenEvents ?? 10_000;
  if (!Number.isSafeInteger(maxSeen) || maxSeen < 1) invalid("maxSeenEvents must be a positive integer");

  let db: Database.Database;
  const owned = options.database === undefined;
  try {
    if (options.database) db = options.database;
    else {
      const path = options.path ?? ".marketmeter/buyers.db";
      if (typeof path !== "string" || path === "") invalid("path must be a non-empty string");
      if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
      db = new Database(path);
      db.pragma("journal_mode = WAL");
    }
    db.pragma(`busy_timeout = ${busy}`);
  } catch (cause) {
    if (cause instanceof MarketplaceError) throw cause;
    throw storeError(`cannot open the SQLite directory database: ${(cause as Error).message}`, cause);
  }

  const C = `${prefix}customers`;
  const R = `${prefix}registrations`;
  const S = `${prefix}seen_events`;
  db.exec(`
    CREATE TABLE IF NOT EXISTS ${C} (
      id TEXT PRIMARY KEY,
      tenant_id TEXT,
      data TEXT NOT NULL,
      updated_at INTEGER NOT NULL,
      version INTEGER NOT NULL DEFAULT 0,
      change_seq INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX IF NOT EXISTS ${C}_tenant ON ${C}(tenant_id);
    CREATE TABLE IF NOT EXISTS ${R} (
      id TEXT PRIMARY KEY,
      token_hash TEXT NOT NULL UNIQUE,
      expires_at INTEGER NOT NULL,
      tenant_id TEXT,
      data TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS ${R}_expires ON ${R}(expires_at);
    CREATE TABLE IF NOT EXISTS ${S} (
      seq INTEGER PRIMARY KEY AUTOINCREMENT,
      id TEXT NOT NULL UNIQUE,
      at INTEGER NOT NULL
    );
  `);

  // Files made before versioned records get the two columns (existing rows: version 0, change 0).
  const columns = new Set(
    db
      .prepare<[], { name: string }>(`PRAGMA table_info(${C})`)
      .all()
      .map((c) => c.name),
  );
  for (const column of ["version", "change_seq"])
    if (!columns.has(column)) db.exec(`ALTER TABLE ${C} ADD COLUMN ${column} INTEGER NOT NULL DEFAULT 0`);
  db.exec(`CREATE INDEX IF NOT EXISTS ${C}_change ON ${C}(change_seq)`);

  const q = {
    allCustomers: db.prepare<[], { data: string }>(`SELECT data FROM ${C}`),
    putCustomer: db.prepare(
      // Writers are serialized by SQLite, so the change sequence grows in commit order.
      `INSERT OR REPLACE INTO ${C} (id, tenant_id, data, updated_at, version, change_seq)
         VALUES (?, ?, ?, ?, ?, (SELECT COALESCE(MAX(change_seq), 0) + 1 FROM ${C}))`,
    ),
    customerVersion: db.prepare<[string], { version: number }>(`SELECT version FROM ${C} WHERE id = ?`),
    getCustomer: db.prepare<[string], { data: string }>(`SELECT data FROM ${C} WHERE id = ?`),
    lastChange: db.prepare<[], { seq: number }>(`SELECT COALESCE(MAX(change_seq), 0) AS seq FROM ${C}`),
    changedSince: db.prepare<[number], { data: string; seq: number }>(
      `SELECT data, change_seq AS seq FROM ${C} WHERE change_seq > ? ORDER BY change_seq`,
    ),
    deleteCustomer: db.prepare(`DELETE FROM ${C} WHERE id = ?`),
    putRegistration: db.prepare(
      // REPLACE also removes another row with the same token hash (a fresh registration of that token).
      `INSERT OR REPLACE INTO ${R} (id, token_hash, expires_at, tenant_id, data) VALUES (?, ?, ?, ?, ?)`,
    ),
    getRegistration: db.prepare<[string], { data: string }>(`SELECT data FROM ${R} WHERE id = ?`),
    byToken: db.prepare<[string, number], { data: string }>(
      `SELECT data FROM ${R} WHERE token_hash = ? AND expires_at > ?`,
    ),
    link: db.prepare(`UPDATE ${R} SET tenant_id = ?, data = ? WHERE id = ? AND tenant_id IS NULL`),
    expire: db.prepare(`DELETE FROM ${R} WHERE expires_at <= ?`),
    seen: db.prepare(`INSERT OR IGNORE INTO ${S} (id, at) VALUES (?, ?)`),
    isSeen: db.prepare<[string], { one: number }>(`SELECT 1 AS one FROM ${S} WHERE id = ?`),
    trim: db.prepare(`DELETE FROM ${S} WHERE seq <= (SELECT MAX(seq) FROM ${S}) - ?`),
    forget: db.prepare(`DELETE FROM ${S} WHERE id = ?`),
  };

  const run = <T>(what: string, fn: () => T): T => {
    try {
      return fn();
    } catch (cause) {
      if (cause instanceof MarketplaceError) throw cause;
      throw storeError(`SQLite directory: ${what} failed: ${(cause as Error).message}`, cause);
    }
  };

  const putRegistration = (r: StoredRegistration) =>
    q.putRegistration.run(r.id, r.tokenHash, r.expiresAt, r.tenantId ?? null, JSON.stringify(r));

  const claim = db.transaction((id: string, tenantId: string, now: number): ClaimResult => {
    const row = q.getRegistration.get(id);
    if (!row) return { ok: false, reason: "not-found" };
    const reg = parseStoredRegistration(JSON.parse(row.data));
    if (reg.tenantId !== undefined) return { ok: false, reason: "linked", registration: reg };
    if (reg.expiresAt <= now) return { ok: false, reason: "expired", registration: reg };
    const linked: StoredRegistration = { ...reg, tenantId, linkedAt: now };
    q.link.run(tenantId, JSON.stringify(linked), id);
    return { ok: true, registration: Object.freeze(linked) };
  });

  // Compare-and-set on the version (see DirectoryStore): read and write in one IMMEDIATE transaction.
  const putCustomer = db.transaction((record: CustomerRecord): boolean => {
    if (record.version !== undefined) {
      const stored = q.customerVersion.get(record.id)?.version ?? 0;
      if (stored !== record.version - 1) return false;
    }
    q.putCustomer.run(
      record.id,
      record.tenantId ?? null,
      JSON.stringify(record),
      record.updatedAt,
      record.version ?? 0,
    );
    return true;
  });

  let closed = false;
  return {
    loadCustomers: () =>
      run("loading customers", () =>
        q.allCustomers.all().map((r) => parseCustomerRecord(JSON.parse(r.data))),
      ),
    saveCustomer: (record: CustomerRecord) => run("saving a customer", () => putCustomer.immediate(record)),
    getCustomer: (id) =>
      run("reading a customer", () => {
        const row = q.getCustomer.get(id);
        return row ? parseCustomerRecord(JSON.parse(row.data)) : undefined;
      }),
    customersChangedSince: (cursor) =>
      run("reading changed customers", () => {
        if (cursor === undefined) return { records: [], cursor: String(q.lastChange.get()?.seq ?? 0) };
        const since = Number(cursor);
        if (!Number.isSafeInteger(since) || since < 0)
          throw new MarketplaceError("INVALID_ARGUMENT", "customersChangedSince needs a cursor it returned");
        const rows = q.changedSince.all(since);
        return {
          records: rows.map((r) => parseCustomerRecord(JSON.parse(r.data))),
          cursor: String(rows.at(-1)?.seq ?? since),
        };
      }),
    deleteCustomer: (id) =>
      run("deleting a customer", () => {
        q.deleteCustomer.run(id);
      }),
    saveRegistration: (registration) =>
      run("saving a registration", () => {
        putRegistration(registration);
      }),
    getRegistration: (id) =>
      run("reading a registration", () => {
        const row = q.getRegistration.get(id);
        return row ? parseStoredRegistration(JSON.parse(row.data)) : undefined;
      }),
    findRegistrationByTokenHash: (tokenHash, now) =>
      run("reading a registration", () => {
        const row = q.byToken.get(tokenHash, now);
        return row ? parseStoredRegistration(JSON.parse(row.data)) : undefined;
      }),
    claimRegistration: (id, tenantId, now) =>
      run("linking a registration", () => claim.immediate(id, tenantId, now)),
    deleteExpiredRegistrations: (now) =>
      run("removing expired registrations", () => q.expire.run(now).changes),
    hasSeenEvent: (id) => run("reading the notification ids", () => q.isSeen.get(id) !== undefined),
    markEventSeen: (id, at) =>
      run("recording a notification id", () => {
        const added = q.seen.run(id, at).changes === 1;
        if (added) q.trim.run(maxSeen);
        return added;
      }),
    forgetEvent: (id) =>
      run("forgetting a notification id", () => {
        q.forget.run(id);
      }),
    close() {
      if (closed) return;
      closed = true;
      if (owned) db.close();
    },
  };
}
