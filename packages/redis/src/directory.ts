/**
 * The customer directory on Redis: buyers, pending registrations and the seen-set of lifecycle
 * notification ids, shared by every instance. Linking a registration is a compare-and-set, so two
 * instances cannot both link it; a notification id is marked seen by one script, so a redelivered event is
 * applied once. Customer writes are compare-and-set on the record's version, and each one is numbered so
 * other instances read only what changed. Keys: d:c (customers by id), d:cn (change counter), d:cc
 * (customer ids by last change), d:r (registrations by id), d:rt (id by token hash), d:rh (token hash by
 * id), d:rx (ids by expiry), d:s (seen ids by arrival), d:sn (arrival counter).
 */
import { type CustomerRecord, type DirectoryStore, MarketplaceError } from "@marketmeter/core";
import {
  type ClaimResult,
  type CustomerChanges,
  parseCustomerRecord,
  parseStoredRegistration,
  type StoredRegistration,
} from "@marketmeter/core/store";
import type { Redis } from "ioredis";
import { handle, invalid, openConnection, type RedisConnectionOptions } from "./connection.js";
import { scripted } from "./scripts.js";

/** Options of {@link redisDirectoryStore}. */
export interface RedisDirectoryStoreOptions extends RedisConnectionOptions {
  /** How many notification ids the seen-set keeps (oldest dropped first). @default 10000 */
  maxSeenEvents?: number;
}

/** The Redis directory store: a `DirectoryStore` with an explicit start-up check. */
export interface RedisDirectoryStore extends DirectoryStore {
  /** Connects and checks the server; every method does this on first use. */
  ready(): Promise<void>;
  saveCustomer(record: CustomerRecord): Promise<boolean>;
  getCustomer(id: string): Promise<CustomerRecord | undefined>;
  customersChangedSince(cursor: string | undefined): Promise<CustomerChanges>;
  close(): Promise<void>;
}

const MAX_TRIES = 20;

/** The change number a cursor stands for; anything this store did not hand out is refused. */
export function parseChangeCursor(cursor: unknown): number {
  const n = typeof cursor === "string" && /^(0|[1-9][0-9]{0,15})$/.test(cursor) ? Number(cursor) : Number.NaN;
  if (!Number.isSafeInteger(n))
    throw new MarketplaceError("INVALID_ARGUMENT", "customersChangedSince needs a cursor it returned");
  return n;
}

/**
 * Creates the Redis directory store.
 *
 * @example
 * import { Redis } from "ioredis";
 * import { createBuyers } from "@marketmeter/core";
 * import { redisDirectoryStore } from "@marketmeter/redis";
 * const redis = new Redis(process.env.REDIS_URL ?? "redis://127.0.0.1:6379");
 * const buyers = createBuyers({ products: ["prod-code"], directory: redisDirectoryStore({ client: redis }) });
 */
export function redisDirectoryStore(options: RedisDirectoryStoreOptions): RedisDirectoryStore {
  const c = openConnection(options, "redisDirectoryStore", ["maxSeenEvents"]);
  const maxSeen = options.maxSeenEvents ?? 10_000;
  if (!Number.isSafeInteger(maxSeen) || maxSeen < 1)
    invalid("redisDirectoryStore maxSeenEvents must be a positive integer");
  const redis = c.redis as Redis;
  const cmd = scripted(redis);
  const b = c.base;
  const h = handle(c, "redis directory store");
  const run = h.run;
  const readRegistration = async (id: string) => {
    const raw = await redis.hget(`${b}d:r`, id);
    return raw === null ? undefined : { raw, reg: parseStoredRegistration(JSON.parse(raw)) };
  };

  return {
    ready: () => run("start-up", async () => {}),
    loadCustomers: () =>
      run("loading customers", async () => {
        const all = await redis.hgetall(`${b}d:c`);
        return Object.keys(all)
          .sort()
          .map((id) => parseCustomerRecord(JSON.parse(all[id] as string)));
      }),
    saveCustomer: (record: CustomerRecord) =>
      run("saving a customer", async () => {
        const v = record.version;
        // The script compares numbers: anything but a whole version >= 1 would be refused for no reason.
        if (v !== undefined && !(Number.isSafeInteger(v) && v >= 1))
          throw new MarketplaceError("INVALID_ARGUMENT", "saveCustomer version must be a whole number >= 1");
        const version = v === undefined ? "" : String(v);
        return (
          Number(await cmd.mmCustomerSave(`${b}d:c`, b, record.id, version, JSON.stringify(record))) === 1
        );
      }),
    getCustomer: (id) =>
      run("reading a customer", async () => {
        const raw = await redis.hget(`${b}d:c`, id);
        return raw === null ? undefined : parseCustomerRecord(JSON.parse(raw));
      }),
    customersChangedSince: (cursor) =>
      run("reading changed customers", async () => {
        const since = cursor === undefined ? "" : String(parseChangeCursor(cursor));
        const [last, ...raws] = await cmd.mmCustomersChanged(`${b}d:c`, b, since);
        return {
          records: raws.map((raw) => parseCustomerRecord(JSON.parse(raw))),
          cursor: String(last ?? since),
        };
      }),
    deleteCustomer: (id) =>
      run("deleting a customer", async () => {
        await cmd.mmCustomerDelete(`${b}d:c`, b, id);
      }),
    saveRegistration: (r: StoredRegistration) =>
      run("saving a registration", async () => {
        await cmd.mmRegSave(`${b}d:r`, b, r.id, r.tokenHash, String(r.expiresAt), JSON.stringify(r));
      }),
    getRegistration: (id) => run("reading a registration", async () => (await readRegistration(id))?.reg),
    findRegistrationByTokenHash: (tokenHash, now) =>
      run("reading a registration", async () => {
        const id = await redis.hget(`${b}d:rt`, tokenHash);
        if (id === null) return undefined;
        const reg = (await readRegistration(id))?.reg;
        return reg && reg.tokenHash === tokenHash && reg.expiresAt > now ? reg : undefined;
      }),
    claimRegistration: (id, tenantId, now) =>
      run("linking a registration", async (): Promise<ClaimResult> => {
        for (let attempt = 1; attempt <= MAX_TRIES; attempt++) {
          const found = await readRegistration(id);
          if (!found) return { ok: false, reason: "not-found" };
          const reg = found.reg;
          if (reg.tenantId !== undefined) return { ok: false, reason: "linked", registration: reg };
          if (reg.expiresAt <= now) return { ok: false, reason: "expired", registration: reg };
          const linked: StoredRegistration = { ...reg, tenantId, linkedAt: now };
          // Check-and-set: a concurrent link (or save) since the read makes this one read again.
          if (Number(await cmd.mmRegCas(`${b}d:r`, b, id, found.raw, JSON.stringify(linked))) === 1)
            return { ok: true, registration: Object.freeze(linked) };
        }
        throw new MarketplaceError("STORE_ERROR", "redisDirectoryStore: linking kept conflicting");
      }),
    deleteExpiredRegistrations: (now) =>
      run("removing expired registrations", async () =>
        Number(await cmd.mmRegExpire(`${b}d:r`, b, String(now))),
      ),
    hasSeenEvent: (id) =>
      run("reading the notification ids", async () => (await redis.zscore(`${b}d:s`, id)) !== null),
    markEventSeen: (id, _at) =>
      run(
        "recording a notification id",
        async () => Number(await cmd.mmSeen(`${b}d:s`, b, id, String(maxSeen))) === 1,
      ),
    forgetEvent: (id) =>
      run("forgetting a notification id", async () => {
        await redis.zrem(`${b}d:s`, id);
      }),
    close: h.close,
  };
}
