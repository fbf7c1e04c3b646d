import { MarketplaceError } from "../errors/index.js";
import type { ClaimResult, CustomerRecord, DirectoryStore, StoredRegistration } from "./types.js";

/** Options of {@link memoryDirectoryStore}. */
export interface MemoryDirectoryStoreOptions {
  /**
   * How many notification ids the seen-set remembers; the oldest are forgotten first.
   * @default 10000
   */
  maxSeenEvents?: number;
}

/**
 * The in-memory directory store: the default, fine for one process and for tests. Everything is lost on
 * restart, including the seen-set of notification ids; use `@marketmeter/sqlite` to keep it.
 *
 * @example
 * const buyers = createBuyers({ products: ["prod-code"], directory: memoryDirectoryStore(), … })
 */
export function memoryDirectoryStore(options: MemoryDirectoryStoreOptions = {}): DirectoryStore {
  const maxSeen = options.maxSeenEvents ?? 10_000;
  if (!Number.isSafeInteger(maxSeen) || maxSeen < 1)
    throw new MarketplaceError("INVALID_CONFIG", "maxSeenEvents must be a positive integer");
  const customers = new Map<string, CustomerRecord>();
  // Write sequence per record, for customersChangedSince.
  const changed = new Map<string, number>();
  let sequence = 0;
  const registrations = new Map<string, StoredRegistration>();
  const byToken = new Map<string, string>();
  const seen = new Map<string, number>();

  return {
    local: true,
    loadCustomers: () => [...customers.values()],
    saveCustomer(record) {
      const stored = customers.get(record.id);
      if (record.version !== undefined && (stored?.version ?? 0) !== record.version - 1) return false;
      customers.set(record.id, record);
      // Re-inserted so the map stays in write order.
      changed.delete(record.id);
      changed.set(record.id, ++sequence);
      return true;
    },
    getCustomer: (id) => customers.get(id),
    customersChangedSince(cursor) {
      const since = cursor === undefined ? sequence : Number(cursor);
      const records: CustomerRecord[] = [];
      for (const [id, seq] of changed) if (seq > since) records.push(customers.get(id) as CustomerRecord);
      return { records, cursor: String(sequence) };
    },
    deleteCustomer(id) {
      customers.delete(id);
      changed.delete(id);
    },
    saveRegistration(registration) {
      const previous = byToken.get(registration.tokenHash);
      if (previous !== undefined && previous !== registration.id) registrations.delete(previous);
      const old = registrations.get(registration.id);
      if (old && old.tokenHash !== registration.tokenHash) byToken.delete(old.tokenHash);
      registrations.set(registration.id, registration);
      byToken.set(registration.tokenHash, registration.id);
    },
    getRegistration: (id) => registrations.get(id),
    findRegistrationByTokenHash(tokenHash, now) {
      const id = byToken.get(tokenHash);
      const found = id === undefined ? undefined : registrations.get(id);
      return found && found.expiresAt > now ? found : undefined;
    },
    claimRegistration(id, tenantId, now): ClaimResult {
      const found = registrations.get(id);
      if (!found) return { ok: false, reason: "not-found" };
      if (found.tenantId !== undefined) return { ok: false, reason: "linked", registration: found };
      if (found.expiresAt <= now) return { ok: false, reason: "expired", registration: found };
      const linked = Object.freeze({ ...found, tenantId, linkedAt: now });
      registrations.set(id, linked);
      return { ok: true, registration: linked };
    },
    deleteExpiredRegistrations(now) {
      let n = 0;
      for (const [id, r] of registrations) {
        if (r.expiresAt <= now) {
          registrations.delete(id);
          if (byToken.get(r.tokenHash) === id) byToken.delete(r.tokenHash);
          n++;
        }
      }
      return n;
    },
    hasSeenEvent: (id) => seen.has(id),
    markEventSeen(id, at) {
      if (seen.has(id)) return false;
      seen.set(id, at);
      // Map keeps insertion order, so the first key is the oldest.
      while (seen.size > maxSeen) seen.delete(seen.keys().next().value as string);
      return true;
    },
    forgetEvent(id) {
      seen.delete(id);
    },
  };
}
