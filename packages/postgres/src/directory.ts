/**
 * The customer directory on PostgreSQL: buyers, pending registrations and the seen-set of lifecycle
 * notification ids, shared by every instance. A registration is linked in one transaction with its row
 * locked, so two instances cannot both link it; a notification id is marked seen by one insert, so a
 * redelivered event is applied once.
 */
import { type CustomerRecord, type DirectoryStore, MarketplaceError } from "@marketmeter/core";
import {
  type ClaimResult,
  type CustomerChanges,
  parseCustomerRecord,
  parseStoredRegistration,
  type StoredRegistration,
} from "@marketmeter/core/store";
import {
  ensureSchema,
  invalid,
  openConnection,
  type PostgresConnectionOptions,
  storeError,
  transaction,
} from "./connection.js";

/** Options of {@link postgresDirectoryStore}. */
export interface PostgresDirectoryStoreOptions extends PostgresConnectionOptions {
  /** How many notification ids the seen-set keeps (oldest dropped first). @default 10000 */
  maxSeenEvents?: number;
}

/** The PostgreSQL directory store: a `DirectoryStore` with an explicit start-up check. */
export interface PostgresDirectoryStore extends DirectoryStore {
  /** Connects and creates or checks the tables; every method does this on first use. */
  ready(): Promise<void>;
  getCustomer(id: string): Promise<CustomerRecord | undefined>;
  customersChangedSince(cursor: string | undefined): Promise<CustomerChanges>;
  close(): Promise<void>;
}

/**
 * Creates the PostgreSQL directory store.
 *
 * @example
 * import pg from "pg";
 * import { createBuyers } from "@marketmeter/core";
 * import { postgresDirectoryStore } from "@marketmeter/postgres";
 * const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL });
 * const buyers = createBuyers({ products: ["prod-code"], directory: postgresDirectoryStore({ pool }) });
 */
export function postgresDirectoryStore(options: PostgresDirectoryStoreOptions): PostgresDirectoryStore {
  const c = openConnection(options, "postgresDirectoryStore", ["maxSeenEvents"]);
  const maxSeen = options.maxSeenEvents ?? 10_000;
  if (!Number.isSafeInteger(maxSeen) || maxSeen < 1)
    invalid("postgresDirectoryStore maxSeenEvents must be a positive integer");
  const C = `${c.q}.customers`;
  // The writing transaction's id (epoch-extended, so it never wraps), for customersChangedSince.
  const XID = "txid_current()";
  const STORED_VERSION = `COALESCE((${C}.data->>'version')::bigint, 0)`;
  const R = `${c.q}.registrations`;
  const S = `${c.q}.seen_events`;

  let closed = false;
  const run = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    if (closed) throw new MarketplaceError("STORE_ERROR", "postgres directory store is closed");
    await ensureSchema(c);
    try {
      return await fn();
    } catch (err) {
      throw storeError(c, what, err);
    }
  };
  const query = async <T>(text: string, values?: unknown[]) => (await c.pool.query<T>(text, values)).rows;

  return {
    ready: () => run("start-up", async () => {}),
    loadCustomers: () =>
      run("loading customers", async () =>
        (await query<{ data: unknown }>(`SELECT data FROM ${C} ORDER BY id`)).map((r) =>
          parseCustomerRecord(r.data),
        ),
      ),
    saveCustomer: (record: CustomerRecord) =>
      run("saving a customer", async () => {
        const values = [record.id, record.tenantId ?? null, JSON.stringify(record), record.updatedAt];
        const set = `tenant_id = $2, data = $3::jsonb, updated_at = $4, change_xid = ${XID}`;
        const version = record.version;
        // Compare-and-set (see DirectoryStore): one statement, so two instances cannot both win.
        if (version === undefined || version === 1) {
          const rows = await query(
            `INSERT INTO ${C} (id, tenant_id, data, updated_at, change_xid) VALUES ($1, $2, $3::jsonb, $4, ${XID})
               ON CONFLICT (id) DO UPDATE SET ${set}${version === undefined ? "" : ` WHERE ${STORED_VERSION} = 0`}
               RETURNING 1`,
            values,
          );
          return rows.length === 1;
        }
        const rows = await query(
          `UPDATE ${C} SET ${set} WHERE id = $1 AND ${STORED_VERSION} = $5::bigint - 1 RETURNING 1`,
          [...values, version],
        );
        return rows.length === 1;
      }),
    getCustomer: (id) =>
      run("reading a customer", async () => {
        const rows = await query<{ data: unknown }>(`SELECT data FROM ${C} WHERE id = $1`, [id]);
        return rows[0] ? parseCustomerRecord(rows[0].data) : undefined;
      }),
    customersChangedSince: (cursor) =>
      run("reading changed customers", async () => {
        const since = cursor === undefined ? undefined : Number(cursor);
        if (since !== undefined && (!Number.isSafeInteger(since) || since < 0))
          throw new MarketplaceError("INVALID_ARGUMENT", "customersChangedSince needs a cursor it returned");
        // Every transaction below the snapshot's horizon has ended, so rows it wrote are visible now;
        // later ones may still commit and are read again next time (the version tells a repeat).
        const rows = await query<{ horizon: string; data: unknown }>(
          `WITH h AS (SELECT txid_snapshot_xmin(txid_current_snapshot()) AS horizon)
           SELECT h.horizon::text AS horizon, c.data FROM h
             LEFT JOIN ${C} c ON $1::bigint IS NOT NULL AND c.change_xid >= $1::bigint`,
          [since ?? null],
        );
        return {
          records: rows.filter((r) => r.data !== null).map((r) => parseCustomerRecord(r.data)),
          cursor: rows[0]?.horizon ?? String(since ?? 0),
        };
      }),
    deleteCustomer: (id) =>
      run("deleting a customer", async () => {
        await query(`DELETE FROM ${C} WHERE id = $1`, [id]);
      }),
    saveRegistration: (r: StoredRegistration) =>
      run("saving a registration", () =>
        transaction(c, async (client) => {
          // A fresh registration of the same token replaces the older one.
          await client.query(`DELETE FROM ${R} WHERE token_hash = $1 AND id <> $2`, [r.tokenHash, r.id]);
          await client.query(
            `INSERT INTO ${R} (id, token_hash, expires_at, tenant_id, data) VALUES ($1, $2, $3, $4, $5::jsonb)
               ON CONFLICT (id) DO UPDATE SET token_hash = EXCLUDED.token_hash, expires_at = EXCLUDED.expires_at,
                 tenant_id = EXCLUDED.tenant_id, data = EXCLUDED.data`,
            [r.id, r.tokenHash, r.expiresAt, r.tenantId ?? null, JSON.stringify(r)],
          );
        }),
      ),
    getRegistration: (id) =>
      run("reading a registration", async () => {
        const rows = await query<{ data: unknown }>(`SELECT data FROM ${R} WHERE id = $1`, [id]);
        return rows[0] ? parseStoredRegistration(rows[0].data) : undefined;
      }),
    findRegistrationByTokenHash: (tokenHash, now) =>
      run("reading a registration", async () => {
        const rows = await query<{ data: unknown }>(
          `SELECT data FROM ${R} WHERE token_hash = $1 AND expires_at > $2`,
          [tokenHash, now],
        );
        return rows[0] ? parseStoredRegistration(rows[0].data) : undefined;
      }),
    claimRegistration: (id, tenantId, now) =>
      run("linking a registration", () =>
        transaction(c, async (client): Promise<ClaimResult> => {
          const rows = (
            await client.query<{ data: unknown }>(`SELECT data FROM ${R} WHERE id = $1 FOR UPDATE`, [id])
          ).rows;
          if (!rows[0]) return { ok: false, reason: "not-found" };
          const reg = parseStoredRegistration(rows[0].data);
          if (reg.tenantId !== undefined) return { ok: false, reason: "linked", registration: reg };
          if (reg.expiresAt <= now) return { ok: false, reason: "expired", registration: reg };
          const linked: StoredRegistration = { ...reg, tenantId, linkedAt: now };
          await client.query(`UPDATE ${R} SET tenant_id = $1, data = $2::jsonb WHERE id = $3`, [
            tenantId,
            JSON.stringify(linked),
            id,
          ]);
          return { ok: true, registration: Object.freeze(linked) };
        }),
      ),
    deleteExpiredRegistrations: (now) =>
      run("removing expired registrations", async () => {
        const r = await c.pool.query(`DELETE FROM ${R} WHERE expires_at <= $1`, [now]);
        return r.rowCount ?? 0;
      }),
    hasSeenEvent: (id) =>
      run("reading the notification ids", async () => {
        const rows = await query(`SELECT 1 FROM ${S} WHERE id = $1`, [id]);
        return rows.length > 0;
      }),
    markEventSeen: (id, at) =>
      run("recording a notification id", async () => {
        const added = await query(
          `INSERT INTO ${S} (id, at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING RETURNING seq`,
          [id, at],
        );
        if (added.length === 0) return false;
        // By rank, not by seq arithmetic: a conflicting insert still uses up a sequence number.
        await query(
          `DELETE FROM ${S} WHERE seq <= (SELECT seq FROM ${S} ORDER BY seq DESC OFFSET $1 LIMIT 1)`,
          [maxSeen],
        );
        return true;
      }),
    forgetEvent: (id) =>
      run("forgetting a notification id", async () => {
        await query(`DELETE FROM ${S} WHERE id = $1`, [id]);
      }),
    async close() {
      if (closed) return;
      closed = true;
      if (c.owned) await c.pool.end?.();
    },
  };
}
