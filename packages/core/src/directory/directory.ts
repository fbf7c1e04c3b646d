import { isMarketplaceError, MarketplaceError } from "../errors/index.js";
import { type Identity, identityKey, licenseIdOf } from "../identity/index.js";
import { freezeCustomer } from "./records.js";
import type { CustomerRecord, DirectoryStore } from "./types.js";

/**
 * The customer directory: every buyer in memory with O(1) lookups by tenant, identity, license,
 * legacy customer identifier and agreement, written through to a {@link DirectoryStore}. Reads are
 * synchronous so access checks can run on every request; writes update the cache first (so the process
 * sees its own writes at once) and then persist, one write at a time per record.
 *
 * The cache is coherent with writes made through this instance. Several processes sharing one durable
 * store each see the others' changes only after {@link Directory.reload}.
 */
export class Directory {
  readonly #store: DirectoryStore;
  readonly #byId = new Map<string, CustomerRecord>();
  readonly #byKey = new Map<string, string>();
  readonly #byTenant = new Map<string, Set<string>>();
  readonly #byLicense = new Map<string, string>();
  readonly #byCustomer = new Map<string, string>();
  readonly #byAccount = new Map<string, Set<string>>();
  readonly #byAgreement = new Map<string, string>();
  readonly #writes = new Map<string, Promise<void>>();
  // Records whose latest write failed: the cache is ahead of the store until they are written again.
  readonly #unsaved = new Set<string>();
  #ready: Promise<void>;
  #loaded = false;

  constructor(store: DirectoryStore) {
    if (typeof store !== "object" || store === null || typeof store.loadCustomers !== "function")
      throw new MarketplaceError(
        "INVALID_CONFIG",
        "directory must be a DirectoryStore (see memoryDirectoryStore)",
      );
    this.#store = store;
    this.#ready = this.#load();
    // A load failure surfaces through ready(); keep it from being an unhandled rejection meanwhile.
    this.#ready.catch(() => {});
  }

  /** The store behind the cache. */
  get store(): DirectoryStore {
    return this.#store;
  }

  /** True once the first load finished (at once for synchronous stores such as memory and SQLite). */
  get loaded(): boolean {
    return this.#loaded;
  }

  /** Resolves when the cache holds the store's records. */
  ready(): Promise<void> {
    return this.#ready;
  }

  /** Re-reads every record from the store (for example when another process changed it). */
  reload(): Promise<void> {
    this.#ready = this.#load();
    return this.#ready;
  }

  #load(): Promise<void> {
    let loaded: ReturnType<DirectoryStore["loadCustomers"]>;
    try {
      loaded = this.#store.loadCustomers();
    } catch (cause) {
      return Promise.reject(storeError("loading customers failed", cause));
    }
    if (Array.isArray(loaded)) {
      this.#fill(loaded);
      return Promise.resolve();
    }
    return Promise.resolve(loaded).then(
      (records) => this.#fill(records),
      (cause) => {
        throw storeError("loading customers failed", cause);
      },
    );
  }

  #fill(records: CustomerRecord[]): void {
    for (const map of [this.#byId, this.#byKey, this.#byTenant, this.#byLicense, this.#byCustomer])
      map.clear();
    this.#byAccount.clear();
    this.#byAgreement.clear();
    for (const r of records) this.#index(freezeCustomer(r));
    this.#loaded = true;
  }

  /** The record with this directory id. */
  get(id: string): CustomerRecord | undefined {
    return this.#byId.get(id);
  }

  /** Every record bound to the tenant (one per license or product), oldest first. */
  getByTenant(tenantId: string): CustomerRecord[] {
    const ids = this.#byTenant.get(tenantId);
    if (!ids) return [];
    const out: CustomerRecord[] = [];
    for (const id of ids) {
      const r = this.#byId.get(id);
      if (r) out.push(r);
    }
    return out;
  }

  /**
   * The record of a billing identity. License identities match on the `l-…` license id (EventBridge and
   * ResolveCustomer spell the ARN differently); legacy ones on product + customer identifier.
   */
  getByIdentity(identity: Identity): CustomerRecord | undefined {
    const exact = this.#byKey.get(identityKey(identity));
    if (exact !== undefined) return this.#byId.get(exact);
    if (identity.licenseArn) {
      const r = this.findByLicense(identity.licenseArn);
      return r && r.productCode === identity.productCode ? r : undefined;
    }
    if (identity.customerIdentifier)
      return this.findByCustomerIdentifier(identity.productCode, identity.customerIdentifier);
    const all = this.findByAccount(identity.productCode, identity.customerAWSAccountId as string);
    // An account with several concurrent licenses is ambiguous: callers must name the license.
    return all.length === 1 ? all[0] : undefined;
  }

  /** By license ARN (any spelling) or bare `l-…` id. */
  findByLicense(licenseArnOrId: string): CustomerRecord | undefined {
    const id = this.#byLicense.get(licenseIdOf(licenseArnOrId));
    return id === undefined ? undefined : this.#byId.get(id);
  }

  findByCustomerIdentifier(productCode: string, customerIdentifier: string): CustomerRecord | undefined {
    const id = this.#byCustomer.get(`${productCode}|${customerIdentifier}`);
    return id === undefined ? undefined : this.#byId.get(id);
  }

  findByAccount(productCode: string, accountId: string): CustomerRecord[] {
    const ids = this.#byAccount.get(`${productCode}|${accountId}`);
    return ids ? [...ids].map((id) => this.#byId.get(id)).filter((r): r is CustomerRecord => !!r) : [];
  }

  findByAgreement(agreementId: string): CustomerRecord | undefined {
    const id = this.#byAgreement.get(agreementId);
    return id === undefined ? undefined : this.#byId.get(id);
  }

  /** Every record (a copy of the list; the records themselves are frozen). */
  list(): CustomerRecord[] {
    return [...this.#byId.values()];
  }

  get size(): number {
    return this.#byId.size;
  }

  /**
   * Replaces (or adds) a record: the cache changes synchronously, the returned promise settles when the
   * store has it. Rejects with `STORE_ERROR` if the store fails (the cache keeps the new value).
   */
  save(record: CustomerRecord): Promise<void> {
    const frozen = freezeCustomer(record);
    const old = this.#byId.get(frozen.id);
    if (old) this.#unindex(old);
    this.#index(frozen);
    const id = frozen.id;
    return this.#persist(id, () => this.#store.saveCustomer(frozen)).then(
      () => {
        this.#unsaved.delete(id);
      },
      (err: unknown) => {
        this.#unsaved.add(id);
        throw err;
      },
    );
  }

  /**
   * Writes the cached record to the store again if its latest write failed (the cache kept the new
   * value), so a retried notification that finds nothing to change still reaches the store. Rejects
   * with `STORE_ERROR` while the store fails.
   */
  async resave(id: string): Promise<void> {
    const record = this.#byId.get(id);
    if (record && this.#unsaved.has(id)) await this.save(record);
  }

  /** Removes a record from cache and store. */
  remove(id: string): Promise<void> {
    const old = this.#byId.get(id);
    if (old) this.#unindex(old);
    this.#unsaved.delete(id);
    return this.#persist(id, () => this.#store.deleteCustomer(id));
  }

  /** Resolves when every write issued so far reached the store. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.#writes.values()]);
  }

  #persist(id: string, write: () => unknown): Promise<void> {
    const previous = this.#writes.get(id) ?? Promise.resolve();
    const next = previous
      .catch(() => {})
      .then(async () => {
        try {
          await write();
        } catch (cause) {
          throw isMarketplaceError(cause) ? cause : storeError("saving a customer failed", cause);
        }
      });
    this.#writes.set(id, next);
    const cleanup = () => {
      if (this.#writes.get(id) === next) this.#writes.delete(id);
    };
    next.then(cleanup, cleanup);
    return next;
  }

  #index(r: CustomerRecord): void {
    this.#byId.set(r.id, r);
    this.#byKey.set(identityKey(r.identity), r.id);
    if (r.tenantId !== undefined) addTo(this.#byTenant, r.tenantId, r.id);
    if (r.licenseArn) this.#byLicense.set(licenseIdOf(r.licenseArn), r.id);
    if (r.customerIdentifier) this.#byCustomer.set(`${r.productCode}|${r.customerIdentifier}`, r.id);
    if (r.customerAWSAccountId) addTo(this.#byAccount, `${r.productCode}|${r.customerAWSAccountId}`, r.id);
    if (r.agreementId) this.#byAgreement.set(r.agreementId, r.id);
  }

  #unindex(r: CustomerRecord): void {
    this.#byId.delete(r.id);
    const drop = (map: Map<string, string>, key: string) => {
      if (map.get(key) === r.id) map.delete(key);
    };
    drop(this.#byKey, identityKey(r.identity));
    if (r.tenantId !== undefined) removeFrom(this.#byTenant, r.tenantId, r.id);
    if (r.licenseArn) drop(this.#byLicense, licenseIdOf(r.licenseArn));
    if (r.customerIdentifier) drop(this.#byCustomer, `${r.productCode}|${r.customerIdentifier}`);
    if (r.customerAWSAccountId)
      removeFrom(this.#byAccount, `${r.productCode}|${r.customerAWSAccountId}`, r.id);
    if (r.agreementId) drop(this.#byAgreement, r.agreementId);
  }
}

function addTo(map: Map<string, Set<string>>, key: string, id: string): void {
  let set = map.get(key);
  if (!set) map.set(key, (set = new Set()));
  set.add(id);
}

function removeFrom(map: Map<string, Set<string>>, key: string, id: string): void {
  const set = map.get(key);
  if (!set) return;
  set.delete(id);
  if (set.size === 0) map.delete(key);
}

function storeError(message: string, cause: unknown): MarketplaceError {
  return new MarketplaceError("STORE_ERROR", message, { cause });
}
