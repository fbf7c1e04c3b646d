import { MarketplaceError } from "../errors/index.js";
import { parseIdentity } from "../identity/index.js";
import {
  CUSTOMER_STATUSES,
  type CustomerRecord,
  type CustomerStatus,
  type Entitlement,
  type StoredRegistration,
} from "./types.js";

function bad(what: string, why: string): never {
  throw new MarketplaceError("STORE_ERROR", `stored ${what} is corrupt: ${why}`);
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null;
const optStr = (v: unknown) => v === undefined || typeof v === "string";
const optNum = (v: unknown) => v === undefined || (typeof v === "number" && Number.isFinite(v));
const num = (v: unknown) => typeof v === "number" && Number.isFinite(v);

function parseEntitlement(v: unknown): Entitlement {
  if (!isObj(v) || typeof v.productCode !== "string" || typeof v.dimension !== "string")
    bad("entitlement", "needs productCode and dimension");
  const t = typeof v.value;
  if (v.value !== undefined && t !== "number" && t !== "string" && t !== "boolean")
    bad("entitlement", "value must be a number, string or boolean");
  if (!optNum(v.expiresAt)) bad("entitlement", "expiresAt must be a number");
  return v as unknown as Entitlement;
}

/**
 * Checks a record read back from a store (JSON from a database) and returns it deeply frozen.
 * Throws `STORE_ERROR` when a field is missing or has the wrong type.
 */
export function parseCustomerRecord(value: unknown): CustomerRecord {
  if (!isObj(value)) bad("customer", "not an object");
  const v = value;
  if (typeof v.id !== "string" || v.id === "") bad("customer", "id");
  if (typeof v.productCode !== "string") bad("customer", "productCode");
  if (!CUSTOMER_STATUSES.includes(v.status as CustomerStatus)) bad("customer", "status");
  if (!num(v.statusAt) || !num(v.createdAt) || !num(v.updatedAt)) bad("customer", "timestamps");
  for (const k of [
    "tenantId",
    "customerIdentifier",
    "customerAWSAccountId",
    "licenseArn",
    "agreementId",
    "offerId",
  ])
    if (!optStr(v[k])) bad("customer", k);
  for (const k of ["finalWindowEndsAt", "finalMeteringAt", "notSubscribedAt"])
    if (!optNum(v[k])) bad("customer", k);
  if (v.version !== undefined && !(Number.isSafeInteger(v.version) && (v.version as number) >= 0))
    bad("customer", "version");
  let identity: CustomerRecord["identity"];
  try {
    identity = parseIdentity(v.identity);
  } catch (cause) {
    throw new MarketplaceError("STORE_ERROR", "stored customer is corrupt: identity", { cause });
  }
  let entitlements: CustomerRecord["entitlements"];
  if (v.entitlements !== undefined) {
    const e = v.entitlements;
    if (!isObj(e) || !Array.isArray(e.items) || !num(e.fetchedAt)) bad("customer", "entitlements");
    entitlements = {
      items: e.items.map(parseEntitlement),
      fetchedAt: e.fetchedAt as number,
      ...(e.stale === true ? { stale: true } : {}),
    };
  }
  const record = { ...(v as unknown as CustomerRecord), identity, entitlements };
  if (entitlements === undefined) delete (record as { entitlements?: unknown }).entitlements;
  return freezeCustomer(record);
}

/** Same check for a stored registration. */
export function parseStoredRegistration(value: unknown): StoredRegistration {
  if (!isObj(value)) bad("registration", "not an object");
  const v = value;
  for (const k of ["id", "tokenHash", "productCode", "customerId"])
    if (typeof v[k] !== "string" || v[k] === "") bad("registration", k);
  if (!num(v.createdAt) || !num(v.expiresAt)) bad("registration", "timestamps");
  if (typeof v.freeTrial !== "boolean") bad("registration", "freeTrial");
  for (const k of ["tenantId", "customerIdentifier", "customerAWSAccountId", "licenseArn"])
    if (!optStr(v[k])) bad("registration", k);
  if (!optNum(v.linkedAt)) bad("registration", "linkedAt");
  let identity: StoredRegistration["identity"];
  try {
    identity = parseIdentity(v.identity);
  } catch (cause) {
    throw new MarketplaceError("STORE_ERROR", "stored registration is corrupt: identity", { cause });
  }
  return Object.freeze({ ...(v as unknown as StoredRegistration), identity: Object.freeze(identity) });
}

/** Freezes a record and everything inside it, so cached snapshots cannot be changed by callers. */
export function freezeCustomer(record: CustomerRecord): CustomerRecord {
  Object.freeze(record.identity);
  if (record.entitlements) {
    for (const item of record.entitlements.items) Object.freeze(item);
    Object.freeze(record.entitlements.items);
    Object.freeze(record.entitlements);
  }
  return Object.freeze(record);
}

/** Drops keys whose value is `undefined`, so records compare and serialize the same everywhere. */
export function compact<T extends object>(value: T): T {
  const out = {} as Record<string, unknown>;
  for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = v;
  return out as T;
}

// Fields that describe one lifecycle state: they move together, ordered by the event time `statusAt`.
const STATUS_FIELDS = [
  "status",
  "statusAt",
  "finalWindowEndsAt",
  "finalMeteringAt",
  "notSubscribedAt",
] as const satisfies readonly (keyof CustomerRecord)[];

/**
 * Re-applies a change made on a stale copy: `mine` was derived from `base`, but the store now holds
 * `theirs` (another instance wrote in between). Every field `mine` changed is taken, except the
 * lifecycle state: a transition of `mine` wins only if its event is newer than `theirs`, and marks on
 * the old state (final metering done, not subscribed) are dropped if `theirs` moved on.
 */
export function rebaseCustomer(
  base: CustomerRecord | undefined,
  mine: CustomerRecord,
  theirs: CustomerRecord,
): CustomerRecord {
  // Nobody else wrote since `base`: the new record is taken as it is.
  if (base !== undefined && sameValue({ ...base, version: 0 }, { ...theirs, version: 0 })) return mine;
  const out: Record<string, unknown> = { ...theirs };
  const m = mine as unknown as Record<string, unknown>;
  const b = (base ?? {}) as Record<string, unknown>;
  const status = new Set<string>(STATUS_FIELDS);
  const changed = (k: string) => base === undefined || !sameValue(b[k], m[k]);
  for (const k of new Set([...Object.keys(b), ...Object.keys(m)])) {
    if (k === "version" || status.has(k) || !changed(k)) continue;
    if (m[k] === undefined) delete out[k];
    else out[k] = m[k];
  }
  const moved = base === undefined || theirs.statusAt !== base.statusAt || theirs.status !== base.status;
  const transition = changed("statusAt") || changed("status");
  const takeMine = transition
    ? mine.statusAt > theirs.statusAt || (!moved && mine.statusAt === theirs.statusAt)
    : !moved;
  if (takeMine)
    for (const k of STATUS_FIELDS) {
      if (transition ? m[k] === undefined : !changed(k)) {
        if (transition) delete out[k];
        continue;
      }
      out[k] = m[k];
    }
  for (const k of Object.keys(out)) if (out[k] === undefined) delete out[k];
  return out as unknown as CustomerRecord;
}

function sameValue(a: unknown, b: unknown): boolean {
  return a === b || JSON.stringify(a) === JSON.stringify(b);
}
