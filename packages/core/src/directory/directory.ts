import { isMarketplaceError, MarketplaceError } from "../errors/index.js";
import { type Identity, identityKey, licenseIdOf } from "../identity/index.js";
import { type Logger, silentLogger } from "../runtime/index.js";
import { freezeCustomer, rebaseCustomer } from "./records.js";
import type { CustomerRecord, DirectoryStore } from "./types.js";

/** Options of {@link Directory}. */
export interface DirectoryOptions {
  /**
   * How often (ms) to re-read the store so changes made by other instances show up: the bound on how
   * stale this instance's view is. 0 turns it off.
   * @default 5000, or 0 for a store only this process sees (the memory store)
   */
  refreshIntervalMs?: number;
  /**
   * Refreshes asked for on a miss (see {@link Directory.refresh}) start at most this often.
   * @default 1000, or 0 for a store only this process sees
   */
  minRefreshGapMs?: number;
  /** @default silent */
  logger?: Logger;
}

// A refused write is re-applied on the re-read record; more conflicts than this in a row is a fault.
const MAX_WRITE_CONFLICTS = 16;
// Incremental refreshes do not report deletions: every this many refreshes, one loads everything.
const FULL_REFRESH_EVERY = 12;
// A failed first load is tried again after 100 ms, doubling up to 5 s, until it succeeds or close().
const FIRST_LOAD_RETRY_MS = 100;
const FIRST_LOAD_RETRY_MAX_MS = 5000;

/**
 * The customer directory: every buyer in memory with O(1) lookups by tenant, identity, license,
 * legacy customer identifier and agreement, written through to a {@link DirectoryStore}. Reads are
 * synchronous so access checks can run on every request; writes update the cache first (so the process
 * sees its own writes at once) and then persist, one write at a time per record.
 *
 * Several instances may share one durable store: each re-reads it every `refreshIntervalMs` (changes
 * made elsewhere show up within that bound, or at once through {@link Directory.refresh}), and writes
 * are compare-and-set on the record's version, so a write made from a stale copy is re-applied on top
 * of the newer record instead of overwriting it.
 */
export class Directory {
  readonly #store: DirectoryStore;
  readonly #logger: Logger;
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
  // The record as last read from or written to the store: the base of the next compare-and-set.
  readonly #stored = new Map<string, CustomerRecord>();
  // The read (generation) that last brought each record, or the latest read begun when this instance
  // changed it: a read begun earlier must not replace or drop it.
  readonly #touched = new Map<string, number>();
  readonly #minGapMs: number;
  #generation = 0;
  #ready: Promise<void>;
  #loaded = false;
  #cursor: string | undefined;
  #refreshes = 0;
  #running: Promise<void> | undefined;
  #next: Promise<void> | undefined;
  #lastStart = Number.NEGATIVE_INFINITY;
  #timer: ReturnType<typeof setInterval> | undefined;
  #gapTimer: { timer: ReturnType<typeof setTimeout>; resolve: () => void } | undefined;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #loadFailures = 0;
  #closed = false;

  constructor(store: DirectoryStore, options: DirectoryOptions = {}) {
    if (typeof store !== "object" || store === null || typeof store.loadCustomers !== "function")
      throw new MarketplaceError(
        "INVALID_CONFIG",
        "directory must be a DirectoryStore (see memoryDirectoryStore)",
      );
    if (typeof options !== "object" || options === null)
      throw new MarketplaceError("INVALID_CONFIG", "Directory options must be an object");
    const interval = options.refreshIntervalMs ?? (store.local === true ? 0 : 5000);
    if (!Number.isSafeInteger(interval) || interval < 0)
      throw new MarketplaceError("INVALID_CONFIG", "refreshIntervalMs must be a non-negative integer");
    // Reading a store only this process sees costs no round trip: no need to space those reads out.
    const gap = options.minRefreshGapMs ?? (store.local === true ? 0 : 1000);
    if (!Number.isSafeInteger(gap) || gap < 0)
      throw new MarketplaceError("INVALID_CONFIG", "minRefreshGapMs must be a non-negative integer");
    this.#store = store;
    this.#logger = options.logger ?? silentLogger;
    this.#minGapMs = gap;
    this.#ready = this.#loadAll();
    this.#running = this.#ready;
    if (interval > 0) {
      this.#timer = setInterval(() => {
        this.refresh().catch((err: unknown) => {
          this.#logger.warn({ err }, "refreshing the customer directory from its store failed");
        });
      }, interval);
      // Never keeps the process alive; close() stops it.
      this.#timer.unref?.();
    }
  }

  /** The store behind the cache. */
  get store(): DirectoryStore {
    return this.#store;
  }

  /** True once the first load finished (at once for synchronous stores such as memory and SQLite). */
  get loaded(): boolean {
    return this.#loaded;
  }

  /**
   * Resolves when the cache holds the store's records. Until the first load succeeds it rejects with the
   * latest failure (`STORE_ERROR`); that load is retried with backoff, so a later call can resolve.
   */
  ready(): Promise<void> {
    return this.#loaded ? Promise.resolve() : this.#ready;
  }

  /** Re-reads every record from the store (for example when another process changed it). */
  reload(): Promise<void> {
    this.#ready = this.#loadAll();
    return this.#ready;
  }

  /** A full load; while nothing was ever loaded, its failure schedules another try. */
  #loadAll(): Promise<void> {
    const p = this.#load(true);
    // A failure surfaces through ready(); keep it from being an unhandled rejection meanwhile.
    p.catch((err: unknown) => this.#retryFirstLoad(err));
    return p;
  }

  // Without this, a store blip at start-up left the instance refusing every buyer until a reload().
  #retryFirstLoad(err: unknown): void {
    if (this.#closed || this.#loaded || this.#retryTimer) return;
    const delayMs = Math.min(FIRST_LOAD_RETRY_MAX_MS, FIRST_LOAD_RETRY_MS * 2 ** this.#loadFailures++);
    this.#logger.warn({ err, retryInMs: delayMs }, "loading the customer directory failed; retrying");
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      if (!this.#closed && !this.#loaded) this.#ready = this.#loadAll();
    }, delayMs);
    this.#retryTimer.unref?.();
  }

  /**
   * Re-reads the store, so records another instance wrote show up. Resolves once a refresh that began
   * after this call has finished; concurrent callers share it, and refreshes start at most once every
   * `minRefreshGapMs`, so calling it on every miss is cheap for the store.
   */
  refresh(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    if (this.#next) return this.#next;
    const next = (async () => {
      await this.#running?.catch(() => {});
      const wait = this.#lastStart + this.#minGapMs - performance.now();
      if (wait > 0 && !this.#closed)
        await new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            this.#gapTimer = undefined;
            resolve();
          }, wait);
          timer.unref?.();
          this.#gapTimer = { timer, resolve };
        });
      this.#next = undefined;
      if (this.#closed) return;
      this.#lastStart = performance.now();
      const full = this.#refreshes++ % FULL_REFRESH_EVERY === 0 || this.#cursor === undefined;
      const running = this.#load(full);
      this.#running = running;
      try {
        await running;
      } finally {
        if (this.#running === running) this.#running = undefined;
      }
    })();
    this.#next = next;
    return next;
  }

  /** Stops the periodic refresh (pending writes still finish; see {@link Directory.settled}). */
  close(): void {
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    if (this.#gapTimer) {
      clearTimeout(this.#gapTimer.timer);
      this.#gapTimer.resolve();
      this.#gapTimer = undefined;
    }
  }

  /** Loads everything (`full`) or what changed since the last cursor, and merges it into the cache. */
  #load(full: boolean): Promise<void> {
    const generation = ++this.#generation;
    const store = this.#store;
    const cursor = this.#cursor;
    const failed = (cause: unknown) =>
      Promise.reject(isMarketplaceError(cause) ? cause : storeError("loading customers failed", cause));
    try {
      if (!full && cursor !== undefined && store.customersChangedSince)
        return after(store.customersChangedSince(cursor), (out) => {
          this.#merge(out.records, generation, false);
          this.#cursor = out.cursor;
        }).catch(failed);
      // The cursor is taken before the full load, so nothing written meanwhile is skipped later.
      return after(store.customersChangedSince?.(undefined), (start) =>
        after(store.loadCustomers(), (records) => {
          this.#merge(records, generation, true);
          this.#cursor = start?.cursor;
        }),
      ).catch(failed);
    } catch (cause) {
      return failed(cause);
    }
  }

  /**
   * Takes records read from the store, except where this instance holds something newer: a write in
   * flight or failed, a change made after the read began, or a higher version.
   */
  #merge(records: readonly CustomerRecord[], generation: number, full: boolean): void {
    const mine = (id: string) =>
      this.#writes.has(id) || this.#unsaved.has(id) || (this.#touched.get(id) ?? -1) >= generation;
    const seen = full ? new Set<string>() : undefined;
    for (const raw of records) {
      seen?.add(raw.id);
      if (mine(raw.id)) continue;
      const known = this.#stored.get(raw.id);
      if (known && raw.version !== undefined && (known.version ?? 0) >= raw.version) continue;
      const r = freezeCustomer(raw);
      this.#stored.set(r.id, r);
      // A slower, older read finishing later must not replace or drop what this one brought.
      this.#touched.set(r.id, generation);
      const old = this.#byId.get(r.id);
      if (old) this.#unindex(old);
      this.#index(r);
    }
    if (seen)
      for (const id of [...this.#byId.keys()])
        if (!seen.has(id) && !mine(id)) {
          this.#unindex(this.#byId.get(id) as CustomerRecord);
          this.#stored.delete(id);
        }
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
   * store has it. If another instance wrote the record meanwhile, this change is re-applied on top of
   * theirs (the cache then shows the merged record). Rejects with `STORE_ERROR` if the store fails (the
   * cache keeps the new value).
   */
  save(record: CustomerRecord): Promise<void> {
    const frozen = freezeCustomer(record);
    const old = this.#byId.get(frozen.id);
    if (old) this.#unindex(old);
    this.#index(frozen);
    const id = frozen.id;
    this.#touched.set(id, this.#generation);
    return this.#persist(id, () => this.#write(old, frozen)).then(
      () => {
        this.#unsaved.delete(id);
      },
      (err: unknown) => {
        this.#unsaved.add(id);
        throw err;
      },
    );
  }

  /** Compare-and-set of `mine` (derived from `base`) on the stored record; re-applies on conflict. */
  async #write(base: CustomerRecord | undefined, mine: CustomerRecord): Promise<void> {
    const id = mine.id;
    // After a failed write the cache is ahead of the store: every change since the stored record is ours.
    const from = this.#unsaved.has(id) ? this.#stored.get(id) : base;
    for (let conflicts = 0; conflicts <= MAX_WRITE_CONFLICTS; conflicts++) {
      const target = this.#stored.get(id);
      const next = freezeCustomer({
        ...(target ? rebaseCustomer(from, mine, target) : mine),
        version: (target?.version ?? 0) + 1,
      });
      if ((await this.#store.saveCustomer(next)) !== false) {
        this.#stored.set(id, next);
        // Unless a later save already replaced it, the cache takes the stored (versioned, merged) record.
        if (this.#byId.get(id) === mine) {
          this.#unindex(mine);
          this.#index(next);
        }
        return;
      }
      const theirs = await this.#read(id);
      if (theirs) this.#stored.set(id, theirs);
      else this.#stored.delete(id);
    }
    throw new MarketplaceError(
      "STORE_ERROR",
      `saving customer ${id} kept conflicting with other instances' writes`,
    );
  }

  async #read(id: string): Promise<CustomerRecord | undefined> {
    const found = this.#store.getCustomer
      ? await this.#store.getCustomer(id)
      : (await this.#store.loadCustomers()).find((r) => r.id === id);
    return found ? freezeCustomer(found) : undefined;
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
    this.#touched.set(id, this.#generation);
    return this.#persist(id, async () => {
      await this.#store.deleteCustomer(id);
      this.#stored.delete(id);
    });
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

/**
 * Runs `then` on a value or a promise of it: synchronously for a plain value, so synchronous stores fill
 * the cache before the constructor returns.
 */
function after<T>(value: T | Promise<T>, then: (v: T) => void | Promise<void>): Promise<void> {
  if (value instanceof Promise) return value.then(then);
  try {
    return then(value) ?? Promise.resolve();
  } catch (cause) {
    return Promise.reject(cause);
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
