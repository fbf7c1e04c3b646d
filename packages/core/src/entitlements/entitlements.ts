import {
  type Entitlement as AwsEntitlement,
  type GetEntitlementFilterName,
  GetEntitlementsCommand,
  type GetEntitlementsCommandOutput,
  type MarketplaceEntitlementServiceClient,
} from "@aws-sdk/client-marketplace-entitlement-service";
import { callDeadlineOf, withDeadline } from "../aws/index.js";
import {
  type CustomerRecord,
  compact,
  type Directory,
  type Entitlement,
  type EntitlementSnapshot,
} from "../directory/index.js";
import { MarketplaceError } from "../errors/index.js";
import { type Identity, identityKey } from "../identity/index.js";
import { toAwsError } from "../registration/index.js";
import type { Clock, Logger } from "../runtime/index.js";

export interface EntitlementsOptions {
  client: MarketplaceEntitlementServiceClient | undefined;
  directory: Directory;
  clock: Clock;
  logger: Logger;
  /** How long fetched entitlements are used before GetEntitlements is called again. */
  ttlMs: number;
  /** Safety stop for pagination (an API that keeps returning NextToken). */
  maxPages: number;
  /** Cache size for identities without a directory record. */
  maxCached: number;
}

/** GetEntitlements filter for an identity: license, else account, else legacy customer identifier. */
export function entitlementFilter(identity: Identity): Partial<Record<GetEntitlementFilterName, string[]>> {
  if (identity.licenseArn) return { LICENSE_ARN: [identity.licenseArn] };
  if (identity.customerIdentifier) return { CUSTOMER_IDENTIFIER: [identity.customerIdentifier] };
  return { CUSTOMER_AWS_ACCOUNT_ID: [identity.customerAWSAccountId as string] };
}

/** Turns one AWS entitlement into ours; undefined when it names no dimension (nothing to act on). */
export function toEntitlement(e: AwsEntitlement, productCode: string): Entitlement | undefined {
  if (typeof e.Dimension !== "string" || e.Dimension === "") return undefined;
  const v = e.Value;
  const value = v?.IntegerValue ?? v?.DoubleValue ?? v?.BooleanValue ?? v?.StringValue;
  const expires = e.ExpirationDate instanceof Date ? e.ExpirationDate.getTime() : undefined;
  return compact({
    productCode: e.ProductCode ?? productCode,
    dimension: e.Dimension,
    value,
    // A missing ExpirationDate is normal (cancelled contracts have none): keep the entitlement, no expiry.
    expiresAt: expires !== undefined && Number.isFinite(expires) ? expires : undefined,
    customerIdentifier: e.CustomerIdentifier || undefined,
    customerAWSAccountId: e.CustomerAWSAccountId || undefined,
    licenseArn: e.LicenseArn || undefined,
  });
}

/**
 * Entitlements that grant something at `now`: not expired, and not an explicit zero or `false`.
 */
export function activeEntitlements(items: readonly Entitlement[], now: number): Entitlement[] {
  return items.filter(
    (e) => (e.expiresAt === undefined || e.expiresAt > now) && e.value !== false && e.value !== 0,
  );
}

/**
 * Contract entitlements with a TTL cache. Buyers with a directory record keep their snapshot on the
 * record (so access checks and restarts see it); others use a small in-memory cache.
 */
export class EntitlementCache {
  readonly #o: EntitlementsOptions;
  readonly #loose = new Map<string, EntitlementSnapshot>();
  readonly #inflight = new Map<string, Promise<EntitlementSnapshot>>();
  calls = 0;

  constructor(options: EntitlementsOptions) {
    this.#o = options;
  }

  /** Cached snapshot of an identity (fresh or not), without calling AWS. */
  peek(identity: Identity): EntitlementSnapshot | undefined {
    return this.#o.directory.getByIdentity(identity)?.entitlements ?? this.#loose.get(identityKey(identity));
  }

  isFresh(snapshot: EntitlementSnapshot | undefined): boolean {
    return !!snapshot && !snapshot.stale && this.#o.clock() - snapshot.fetchedAt < this.#o.ttlMs;
  }

  /** Entitlements of an identity, from cache when fresh, else from GetEntitlements (one call at a time). */
  async get(identity: Identity, options: { refresh?: boolean } = {}): Promise<EntitlementSnapshot> {
    const cached = this.peek(identity);
    if (!options.refresh && this.isFresh(cached)) return cached as EntitlementSnapshot;
    return this.refresh(identity);
  }

  refresh(identity: Identity): Promise<EntitlementSnapshot> {
    const key = identityKey(identity);
    let pending = this.#inflight.get(key);
    if (!pending) {
      pending = this.#fetch(identity).finally(() => this.#inflight.delete(key));
      this.#inflight.set(key, pending);
    }
    return pending;
  }

  /** Marks the cached snapshot as outdated (a notification said the contract changed). */
  async invalidate(identity: Identity): Promise<void> {
    const record = this.#o.directory.getByIdentity(identity);
    if (record?.entitlements && !record.entitlements.stale)
      await this.#o.directory.save({ ...record, entitlements: { ...record.entitlements, stale: true } });
    this.#loose.delete(identityKey(identity));
  }

  async #fetch(identity: Identity): Promise<EntitlementSnapshot> {
    const o = this.#o;
    if (!o.client)
      throw new MarketplaceError(
        "INVALID_CONFIG",
        "entitlements need an entitlement client: pass aws options or entitlementClient",
      );
    const items: Entitlement[] = [];
    const seenTokens = new Set<string>();
    let next: string | undefined;
    let pages = 0;
    do {
      let out: GetEntitlementsCommandOutput;
      try {
        this.calls++;
        const client = o.client;
        const command = new GetEntitlementsCommand({
          ProductCode: identity.productCode,
          Filter: entitlementFilter(identity),
          MaxResults: 25,
          ...(next ? { NextToken: next } : {}),
        });
        out = await withDeadline("GetEntitlements", callDeadlineOf(client), (abortSignal) =>
          client.send(command, { abortSignal }),
        );
      } catch (err) {
        throw toAwsError(err, "GetEntitlements");
      }
      // An empty page may still carry a NextToken: keep going until the token runs out.
      for (const e of out.Entitlements ?? []) {
        const item = toEntitlement(e, identity.productCode);
        if (item && item.productCode === identity.productCode) items.push(item);
      }
      next = typeof out.NextToken === "string" && out.NextToken !== "" ? out.NextToken : undefined;
      if (next !== undefined) {
        if (seenTokens.has(next)) {
          o.logger.warn(
            { productCode: identity.productCode },
            "GetEntitlements repeated a NextToken; stopping",
          );
          break;
        }
        seenTokens.add(next);
      }
      pages++;
    } while (next !== undefined && pages < o.maxPages);
    if (next !== undefined && pages >= o.maxPages)
      o.logger.warn(
        { productCode: identity.productCode, pages },
        "GetEntitlements pagination stopped at maxPages",
      );
    const snapshot: EntitlementSnapshot = { items, fetchedAt: o.clock() };
    const record: CustomerRecord | undefined = o.directory.getByIdentity(identity);
    if (record) {
      const { entitlements: _old, ...rest } = record;
      await o.directory.save({ ...rest, entitlements: snapshot, updatedAt: o.clock() });
    } else {
      const key = identityKey(identity);
      this.#loose.delete(key);
      this.#loose.set(key, snapshot);
      while (this.#loose.size > o.maxCached) this.#loose.delete(this.#loose.keys().next().value as string);
    }
    return snapshot;
  }
}
