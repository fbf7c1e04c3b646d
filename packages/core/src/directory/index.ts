/** The customer directory: buyers, their tenants and lifecycle state, cached in memory over a store. */
export { Directory, type DirectoryOptions } from "./directory.js";
export type { MemoryDirectoryStoreOptions } from "./memory.js";
export { memoryDirectoryStore } from "./memory.js";
export { compact, freezeCustomer, parseCustomerRecord, parseStoredRegistration } from "./records.js";
export type {
  ClaimResult,
  CustomerChanges,
  CustomerRecord,
  CustomerStatus,
  DirectoryStore,
  Entitlement,
  EntitlementSnapshot,
  MaybePromise,
  Registration,
  StoredRegistration,
} from "./types.js";
export { CUSTOMER_STATUSES } from "./types.js";
