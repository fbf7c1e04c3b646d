import type { Identity } from "../identity/index.js";

/**
 * Where a buyer stands in the subscription lifecycle.
 * - `pending`: registered (ResolveCustomer succeeded) but AWS has not confirmed the subscription yet;
 *   usage sent now would come back `CustomerNotSubscribed`.
 * - `active`: `subscribe-success` (SNS) or `License Updated` (EventBridge) was seen.
 * - `unsubscribe-pending`: the buyer is cancelling; AWS still accepts usage for about one hour (the final
 *   window, see {@link CustomerRecord.finalWindowEndsAt}).
 * - `cancelled`: the subscription or license ended; usage is no longer accepted.
 * - `failed`: `subscribe-fail` (for example a payment problem).
 */
export type CustomerStatus = "pending" | "active" | "unsubscribe-pending" | "cancelled" | "failed";

export const CUSTOMER_STATUSES: readonly CustomerStatus[] = [
  "pending",
  "active",
  "unsubscribe-pending",
  "cancelled",
  "failed",
];

/** One entitlement of a contract buyer, as GetEntitlements returned it. */
export interface Entitlement {
  productCode: string;
  dimension: string;
  /** The entitled amount or flag (`IntegerValue`, `DoubleValue`, `BooleanValue` or `StringValue`). */
  value?: number | boolean | string;
  /** Epoch ms; absent when AWS sends no `ExpirationDate` (for example a cancelled contract). */
  expiresAt?: number;
  customerIdentifier?: string;
  customerAWSAccountId?: string;
  licenseArn?: string;
}

/** The entitlements last fetched for a buyer. */
export interface EntitlementSnapshot {
  items: readonly Entitlement[];
  /** Epoch ms of the fetch. */
  fetchedAt: number;
  /** Set when a notification said the entitlements changed and the refresh has not succeeded yet. */
  stale?: boolean;
}

/**
 * A buyer in the customer directory: the seller's tenant, the identity AWS bills, and the lifecycle state.
 * Records are immutable snapshots; the directory replaces them on every change.
 */
export interface CustomerRecord {
  /** Directory-internal id (random, stable for the life of the record). */
  readonly id: string;
  /** The seller's tenant, once a registration was linked. */
  readonly tenantId?: string;
  readonly productCode: string;
  /** The identity to meter with (legacy customer identifier, or account id + license ARN). */
  readonly identity: Identity;
  /** Every name AWS used for this buyer, so events of either channel find the record. */
  readonly customerIdentifier?: string;
  readonly customerAWSAccountId?: string;
  readonly licenseArn?: string;
  readonly status: CustomerStatus;
  /** Event time (epoch ms) of the notification that set `status`; older events never overwrite it. */
  readonly statusAt: number;
  /** While `unsubscribe-pending`: when AWS stops accepting usage (epoch ms). */
  readonly finalWindowEndsAt?: number;
  /** When the final-metering hook last completed for the current cancellation (epoch ms). */
  readonly finalMeteringAt?: number;
  /** When metering last reported `CustomerNotSubscribed` for this buyer (epoch ms). */
  readonly notSubscribedAt?: number;
  readonly agreementId?: string;
  readonly offerId?: string;
  /** The buyer came through a free-trial offer. */
  readonly freeTrial?: boolean;
  readonly entitlements?: EntitlementSnapshot;
  readonly createdAt: number;
  readonly updatedAt: number;
  /**
   * How many times the record was written to its store (1 for the first write). A write names the version
   * it produces; the store takes it only on top of the one before, so an instance writing from a stale
   * copy is told so and re-applies its change (see {@link DirectoryStore.saveCustomer}).
   */
  readonly version?: number;
}

/**
 * The result of a fulfillment-URL POST, waiting for the seller's app to bind it to a tenant with `link`.
 */
export interface Registration {
  /** Unguessable id (192 random bits, base64url); keep it server-side, e.g. in the sign-up session. */
  readonly id: string;
  readonly productCode: string;
  readonly identity: Identity;
  readonly customerIdentifier?: string;
  readonly customerAWSAccountId?: string;
  readonly licenseArn?: string;
  /** The form said `x-amzn-marketplace-offer-type=free-trial`. */
  readonly freeTrial: boolean;
  /** The directory record this registration belongs to. */
  readonly customerId: string;
  readonly createdAt: number;
  readonly expiresAt: number;
  /** Set once `link` bound it. */
  readonly tenantId?: string;
  readonly linkedAt?: number;
}

/** A registration as a store keeps it: with the SHA-256 of the token, never the token itself. */
export interface StoredRegistration extends Registration {
  readonly tokenHash: string;
}

/** Outcome of {@link DirectoryStore.claimRegistration}. */
export type ClaimResult =
  | { ok: true; registration: StoredRegistration }
  | { ok: false; reason: "not-found" }
  | { ok: false; reason: "expired" | "linked"; registration: StoredRegistration };

/** A value or a promise of it: in-process stores answer synchronously, network stores asynchronously. */
export type MaybePromise<T> = T | Promise<T>;

/** Outcome of {@link DirectoryStore.customersChangedSince}. */
export interface CustomerChanges {
  /** Records written after the cursor (a record may come again in a later batch; versions tell). */
  records: CustomerRecord[];
  /** Opaque position to pass next time. */
  cursor: string;
}

/**
 * Persistence behind the customer directory. Implementations: {@link memoryDirectoryStore} (in core),
 * `sqliteDirectoryStore` (`@marketmeter/sqlite`) and `postgresDirectoryStore` (`@marketmeter/postgres`).
 * The directory keeps every customer in memory, writes through, and re-reads the store periodically so
 * several instances sharing one store converge.
 *
 * Writes never go backwards: {@link CustomerRecord.version} is a compare-and-set token. A record saved
 * with `version: n` is stored only if the stored record is at version `n - 1` (a missing record, or one
 * without a version, counts as 0); otherwise the store leaves it and answers `false`. The directory then
 * re-reads the record and re-applies its own change on top (a lifecycle status only if its event time
 * `statusAt` is not older), so two instances never overwrite each other's newer state.
 */
export interface DirectoryStore {
  /** Only this process sees the data (the memory store): the directory then never re-reads it. */
  readonly local?: boolean;
  /** Every customer record; called at start and by full refreshes. Return an array to be ready at once. */
  loadCustomers(): MaybePromise<CustomerRecord[]>;
  /**
   * Inserts or replaces the record with `record.id`. With `record.version` set: compare-and-set as
   * described above, `true` when stored, `false` when the stored version is not `version - 1`. Without
   * a version the write is unconditional.
   */
  // biome-ignore lint/suspicious/noConfusingVoidType: stores written before versions return nothing.
  saveCustomer(record: CustomerRecord): MaybePromise<boolean | void>;
  /** One record by id (used to re-apply a change after a refused write); else `loadCustomers` is used. */
  getCustomer?(id: string): MaybePromise<CustomerRecord | undefined>;
  /**
   * Records written after `cursor` (`undefined`: from now on, with no records), for cheap periodic
   * refreshes; without it every refresh loads every record. Deletions need not be reported (a full
   * load now and then drops them).
   */
  customersChangedSince?(cursor: string | undefined): MaybePromise<CustomerChanges>;
  deleteCustomer(id: string): MaybePromise<void>;
  /** Inserts or replaces by id; another registration with the same `tokenHash` is replaced. */
  saveRegistration(registration: StoredRegistration): MaybePromise<void>;
  getRegistration(id: string): MaybePromise<StoredRegistration | undefined>;
  /** The registration made from this token, unless it has expired at `now`. */
  findRegistrationByTokenHash(tokenHash: string, now: number): MaybePromise<StoredRegistration | undefined>;
  /**
   * Atomically binds an unexpired, unlinked registration to `tenantId` (check-and-set, so two concurrent
   * `link` calls cannot both win).
   */
  claimRegistration(id: string, tenantId: string, now: number): MaybePromise<ClaimResult>;
  /** Removes registrations that expired before `now`; returns how many. */
  deleteExpiredRegistrations(now: number): MaybePromise<number>;
  /**
   * Whether a notification id is in the seen-set, without adding it. Lifecycle handling asks this first
   * and marks an id seen only after the event was applied, so an event whose handling failed is never
   * answered "duplicate". Stores without it are asked through `markEventSeen` after applying (applying
   * twice changes nothing).
   */
  hasSeenEvent?(id: string): MaybePromise<boolean>;
  /**
   * Adds a notification id to the bounded seen-set; false if it was already there. Called once the event
   * was applied. Durable stores keep it across restarts, so a redelivered event changes nothing.
   */
  markEventSeen(id: string, at: number): MaybePromise<boolean>;
  /** Removes an id again (lets a redelivery of that event be processed once more). */
  forgetEvent(id: string): MaybePromise<void>;
  close?(): MaybePromise<void>;
}
