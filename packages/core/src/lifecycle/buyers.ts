import type { MarketplaceEntitlementServiceClient } from "@aws-sdk/client-marketplace-entitlement-service";
import type { MarketplaceMeteringClient } from "@aws-sdk/client-marketplace-metering";
import { type AccessDecision, decideAccess, deny } from "../access/index.js";
import { type AwsOptions, createAwsClients } from "../aws/index.js";
import {
  type CustomerRecord,
  Directory,
  type DirectoryStore,
  type Entitlement,
  memoryDirectoryStore,
  type Registration,
} from "../directory/index.js";
import { EntitlementCache } from "../entitlements/index.js";
import { MarketplaceError } from "../errors/index.js";
import { type Identity, type IdentityInput, isValidProductCode, parseIdentity } from "../identity/index.js";
import { type IncomingRequest, Registrar } from "../registration/index.js";
import { type Clock, type Logger, silentLogger, systemClock, wholeMilliseconds } from "../runtime/index.js";
import {
  createSnsVerifier,
  DEFAULT_MAX_CLOCK_SKEW_MS,
  type FetchLike,
  type SnsTopicOwner,
  type SnsVerifier,
} from "../sns/index.js";
import type { LifecycleEvent } from "./events.js";
import { handleEventBridgeInput, handleSnsInput } from "./handlers.js";
import { type LifecycleOutcome, LifecycleProcessor, type ProductInfo } from "./processor.js";

/** A product this service sells. A bare string is a usage (subscription) product. */
export type BuyerProduct =
  | string
  | {
      productCode: string;
      /**
       * The product sells contracts: buyers need a current entitlement (GetEntitlements) for access.
       * @default false
       */
      contract?: boolean;
    };

/**
 * Options of {@link createBuyers}.
 *
 * @example
 * const buyers = createBuyers({
 *   products: [{ productCode: "pca1234567890abcdefghijkl", contract: true }],
 *   aws: { region: "us-east-1" },
 *   directory: sqliteDirectoryStore({ filename: "buyers.db" }),
 *   finalMetering: (identity) => marketplace.flush({ identity }),
 *   eventBridge: { secret: process.env.EVENTBRIDGE_SECRET },
 * })
 */
export interface BuyersOptions {
  /** The AWS Marketplace products this service sells (tokens and events of other products are refused). */
  products: readonly BuyerProduct[];
  /** How to reach AWS (region, endpoint, credentials); used when clients are not injected. */
  aws?: AwsOptions;
  /** ResolveCustomer client. @default built from `aws` */
  meteringClient?: MarketplaceMeteringClient;
  /** GetEntitlements client. @default built from `aws` */
  entitlementClient?: MarketplaceEntitlementServiceClient;
  /** Where buyers, registrations and the seen-set live. @default memoryDirectoryStore() */
  directory?: DirectoryStore;
  /**
   * How often (ms) the in-memory directory re-reads its store, so buyers registered, changed or
   * cancelled through other instances show up here: the bound on how stale `access()` can be. 0 turns
   * it off. A buyer unknown here is also looked up at once by the access guard (see `checkAccess`).
   * @default 5000 (0 for the memory store, which no other instance sees)
   */
  directoryRefreshMs?: number;
  /** @default Date.now */
  clock?: Clock;
  /** @default silent */
  logger?: Logger;
  /**
   * Called once when a buyer starts cancelling (unsubscribe-pending, Purchase Agreement Ended, License
   * Deprovisioned), to send that buyer's open usage at once, while AWS still accepts it. Wire it to the
   * metering engine's flush. A rejection is logged and the hook runs again on the next cancellation notice.
   */
  finalMetering?: (identity: Identity) => Promise<void>;
  /** Called after each handled lifecycle notification (for audit logs, emails, provisioning). */
  onLifecycleEvent?: (event: LifecycleEvent, outcome: LifecycleOutcome) => void | Promise<void>;
  registration?: {
    /** How long a registration waits for `link`. @default 3600000 (1 h) */
    ttlMs?: number;
    /** Largest fulfillment-URL body accepted. @default 16384 */
    maxBodyBytes?: number;
  };
  sns?: {
    /** Exact topic ARNs to accept. @default the AWS Marketplace topics of `products` */
    topicArns?: readonly string[];
    /**
     * The account that owns the AWS Marketplace topics of `products`: anyone can create a topic of the
     * same name, and SNS signs it with the same certificate. Set it only for the emulator or tests (or a
     * China/GovCloud topic owner you were given).
     * @default { partition: "aws", region: "us-east-1", accountId: "287250355862" }
     */
    topicOwner?: SnsTopicOwner;
    /** Extra origins trusted to serve signing certificates and SubscribeURLs (e.g. the emulator). @default [] */
    trustedCertificateOrigins?: readonly string[];
    /** Visit the SubscribeURL of a verified SubscriptionConfirmation. @default false */
    autoConfirm?: boolean;
    /** Older messages are rejected as replays. @default 3600000 */
    maxMessageAgeMs?: number;
    /** @default globalThis.fetch */
    fetch?: FetchLike;
    /** Timeout of certificate downloads and confirmations. @default 5000 */
    timeoutMs?: number;
    /** @default 65536 */
    maxCertificateBytes?: number;
    /** @default 32 */
    certificateCacheSize?: number;
    /** @default 86400000 */
    certificateCacheTtlMs?: number;
    /** Largest SNS request body. @default 262144 */
    maxBodyBytes?: number;
  };
  eventBridge?: {
    /** Shared secret an API destination sends in `header`; required to accept webhook requests. */
    secret?: string;
    /** @default "x-marketmeter-webhook-secret" */
    header?: string;
    /** Largest event body. @default 262144 */
    maxBodyBytes?: number;
  };
  entitlements?: {
    /** How long fetched entitlements are trusted. @default 3600000 */
    ttlMs?: number;
    /** Stop paginating after this many pages. @default 100 */
    maxPages?: number;
  };
  access?: {
    /**
     * After a cancellation notice, access stays allowed (with `finalWindow: true`) for this long, matching
     * the hour in which AWS still accepts the buyer's usage.
     * @default 3600000
     */
    finalWindowMs?: number;
    /** Contract buyers whose entitlements could not be fetched yet are allowed (fail open). @default false */
    allowUnknownEntitlements?: boolean;
    /**
     * Access in the final window ends this long before AWS stops accepting the buyer's usage; at that
     * moment the marketplace sends the buyer's last usage (a second final flush), so usage made in the
     * final window is billed, not refused as CustomerNotSubscribed. @default 300000 (5 min)
     */
    finalWindowLeadMs?: number;
  };
}

/** Who to check in {@link Buyers.access}: a billing identity, or the seller's tenant. */
export type AccessSubject = IdentityInput | { tenantId: string; productCode?: string };

/** The buyer lifecycle: registration, directory, notifications, entitlements and access. */
export interface Buyers {
  /**
   * Handles the fulfillment-URL POST: resolves the token at once and returns a pending registration.
   * Submitting the same token again returns the same registration.
   */
  register(request: IncomingRequest): Promise<Registration>;
  /** Binds a registration to the seller's tenant (once; not after it expired). */
  link(registrationId: string, tenantId: string): Promise<CustomerRecord>;
  /** An EventBridge event (object or JSON text), or an API-destination webhook request. */
  handleEventBridge(eventOrRequest: unknown): Promise<LifecycleOutcome>;
  /** An SNS HTTP request, or an SNS envelope (object or JSON text, e.g. from SQS). */
  handleSns(requestOrMessage: unknown): Promise<LifecycleOutcome>;
  /** A buyer's entitlements (contract products), cached for `entitlements.ttlMs`. */
  entitlements(identity: IdentityInput, options?: { refresh?: boolean }): Promise<readonly Entitlement[]>;
  /** Synchronous, O(1) access decision from the in-memory directory. */
  access(subject: AccessSubject): AccessDecision;
  /**
   * `access()` that reads through to the store when the in-memory directory does not know the buyer
   * (or only as pending): a buyer who just signed up through another instance is not refused. Store
   * reads are shared by concurrent calls and start at most once a second.
   */
  checkAccess(subject: AccessSubject): Promise<AccessDecision>;
  /** Metering said `CustomerNotSubscribed` for this identity: deny access until the next activation. */
  noteNotSubscribed(identity: IdentityInput, options?: { at?: number }): void;
  /**
   * A pending (or linked) registration by id, e.g. for the sign-up page; undefined when unknown or expired.
   * The token's hash is never returned.
   */
  registration(registrationId: string): Promise<Registration | undefined>;
  /**
   * Buyers whose final window is about to close (access has ended, AWS still accepts their usage for
   * `access.finalWindowLeadMs`): their last usage must be sent now.
   */
  finalWindowsClosing(now?: number): Array<{ identity: Identity; finalWindowEndsAt: number }>;
  /** Resolves when the directory is loaded from its store. */
  ready(): Promise<void>;
  /**
   * Waits for pending writes and final-metering hooks, closes the directory store and the AWS clients this
   * instance created (injected clients stay open). Later calls of the async entries reject with `CLOSED`.
   */
  close(): Promise<void>;
  readonly directory: Directory;
}

function positiveInt(value: unknown, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1)
    throw new MarketplaceError("INVALID_CONFIG", `${name} must be a positive integer`);
  return value;
}

function parseProducts(input: unknown): Map<string, ProductInfo> {
  if (!Array.isArray(input) || input.length === 0)
    throw new MarketplaceError(
      "INVALID_CONFIG",
      'products must list at least one product code, e.g. products: ["prod-code"]',
    );
  const out = new Map<string, ProductInfo>();
  for (const p of input) {
    const code =
      typeof p === "string"
        ? p
        : typeof p === "object" && p !== null
          ? (p as { productCode?: unknown }).productCode
          : undefined;
    if (!isValidProductCode(code))
      throw new MarketplaceError(
        "INVALID_CONFIG",
        `products contains an invalid product code: ${JSON.stringify(code)}`,
      );
    const contract = typeof p === "object" && p !== null ? (p as { contract?: unknown }).contract : undefined;
    if (contract !== undefined && typeof contract !== "boolean")
      throw new MarketplaceError("INVALID_CONFIG", `products[${code}].contract must be a boolean`);
    out.set(code, { contract: contract === true });
  }
  return out;
}

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * Creates the buyer lifecycle. Framework-free: adapters translate their requests into
 * {@link IncomingRequest} and map errors by `details.httpStatus`.
 *
 * @example
 * const buyers = createBuyers({ products: ["pca1234567890abcdefghijkl"], aws: { region: "us-east-1" } })
 * const registration = await buyers.register({ method: "POST", headers, body })
 * // … after sign-in:
 * await buyers.link(registration.id, tenant.id)
 * if (!buyers.access({ tenantId: tenant.id }).allowed) …
 */
export function createBuyers(options: BuyersOptions): Buyers {
  if (typeof options !== "object" || options === null)
    throw new MarketplaceError("INVALID_CONFIG", "createBuyers needs an options object");
  const products = parseProducts(options.products);
  const clock = wholeMilliseconds(options.clock ?? systemClock);
  const logger = options.logger ?? silentLogger;
  if (typeof clock !== "function")
    throw new MarketplaceError("INVALID_CONFIG", "clock must be a function returning epoch ms");
  if (options.finalMetering !== undefined && typeof options.finalMetering !== "function")
    throw new MarketplaceError(
      "INVALID_CONFIG",
      "finalMetering must be a function (identity) => Promise<void>",
    );
  if (options.onLifecycleEvent !== undefined && typeof options.onLifecycleEvent !== "function")
    throw new MarketplaceError("INVALID_CONFIG", "onLifecycleEvent must be a function");
  const eb = options.eventBridge ?? {};
  if (eb.secret !== undefined && (typeof eb.secret !== "string" || eb.secret.length < 16))
    throw new MarketplaceError(
      "INVALID_CONFIG",
      "eventBridge.secret must be a string of at least 16 characters",
    );
  const header = (eb.header ?? "x-marketmeter-webhook-secret").toLowerCase();
  if (!HEADER_NAME.test(header))
    throw new MarketplaceError("INVALID_CONFIG", "eventBridge.header must be an HTTP header name");
  const sns = options.sns ?? {};
  if (sns.autoConfirm !== undefined && typeof sns.autoConfirm !== "boolean")
    throw new MarketplaceError("INVALID_CONFIG", "sns.autoConfirm must be a boolean");
  const finalWindowMs = positiveInt(options.access?.finalWindowMs, "access.finalWindowMs", 3_600_000);
  const allowUnknown = options.access?.allowUnknownEntitlements === true;
  const finalWindowLeadMs =
    options.access?.finalWindowLeadMs === 0
      ? 0
      : positiveInt(options.access?.finalWindowLeadMs, "access.finalWindowLeadMs", 300_000);
  if (finalWindowLeadMs >= finalWindowMs)
    throw new MarketplaceError(
      "INVALID_CONFIG",
      "access.finalWindowLeadMs must be shorter than access.finalWindowMs",
    );

  let meteringClient = options.meteringClient;
  let entitlementClient = options.entitlementClient;
  let destroyClients: (() => void) | undefined;
  if (!meteringClient || !entitlementClient) {
    // Only the missing client is built; injected ones are never destroyed by close().
    const clients = createAwsClients({
      ...options.aws,
      ...(meteringClient ? { client: meteringClient } : {}),
      ...(entitlementClient ? { entitlementClient } : {}),
    });
    meteringClient = clients.metering;
    entitlementClient = clients.entitlement;
    destroyClients = () => clients.destroy();
  }

  if (
    options.directoryRefreshMs !== undefined &&
    (!Number.isSafeInteger(options.directoryRefreshMs) || options.directoryRefreshMs < 0)
  )
    throw new MarketplaceError(
      "INVALID_CONFIG",
      "directoryRefreshMs must be a non-negative integer (milliseconds; 0 turns it off)",
    );
  const directory = new Directory(options.directory ?? memoryDirectoryStore(), {
    logger,
    ...(options.directoryRefreshMs !== undefined ? { refreshIntervalMs: options.directoryRefreshMs } : {}),
  });
  const entitlements = new EntitlementCache({
    client: entitlementClient,
    directory,
    clock,
    logger,
    ttlMs: positiveInt(options.entitlements?.ttlMs, "entitlements.ttlMs", 3_600_000),
    maxPages: positiveInt(options.entitlements?.maxPages, "entitlements.maxPages", 100),
    maxCached: 10_000,
  });
  const registrar = new Registrar({
    productCodes: new Set(products.keys()),
    meteringClient,
    directory,
    clock,
    logger,
    ttlMs: positiveInt(options.registration?.ttlMs, "registration.ttlMs", 3_600_000),
    maxBodyBytes: positiveInt(options.registration?.maxBodyBytes, "registration.maxBodyBytes", 16_384),
  });
  const processor = new LifecycleProcessor({
    products,
    directory,
    entitlements,
    clock,
    logger,
    finalWindowMs,
    maxClockSkewMs: DEFAULT_MAX_CLOCK_SKEW_MS,
    finalMetering: options.finalMetering,
    onLifecycleEvent: options.onLifecycleEvent,
  });
  const timeoutMs = positiveInt(sns.timeoutMs, "sns.timeoutMs", 5_000);
  const fetchImpl = sns.fetch ?? (globalThis.fetch as unknown as FetchLike);
  const verifier: SnsVerifier = createSnsVerifier({
    productCodes: [...products.keys()],
    ...(sns.topicArns !== undefined ? { topicArns: sns.topicArns } : {}),
    ...(sns.topicOwner !== undefined ? { topicOwner: sns.topicOwner } : {}),
    ...(sns.trustedCertificateOrigins !== undefined
      ? { trustedCertificateOrigins: sns.trustedCertificateOrigins }
      : {}),
    ...(sns.maxMessageAgeMs !== undefined ? { maxMessageAgeMs: sns.maxMessageAgeMs } : {}),
    ...(sns.maxCertificateBytes !== undefined ? { maxCertificateBytes: sns.maxCertificateBytes } : {}),
    ...(sns.certificateCacheSize !== undefined ? { certificateCacheSize: sns.certificateCacheSize } : {}),
    ...(sns.certificateCacheTtlMs !== undefined ? { certificateCacheTtlMs: sns.certificateCacheTtlMs } : {}),
    fetch: fetchImpl,
    certificateTimeoutMs: timeoutMs,
    clock,
  });
  const snsMaxBody = positiveInt(sns.maxBodyBytes, "sns.maxBodyBytes", 262_144);
  const ebMaxBody = positiveInt(eb.maxBodyBytes, "eventBridge.maxBodyBytes", 262_144);
  const defaultProduct = products.size === 1 ? [...products.keys()][0] : undefined;

  // Background refreshes started by access checks: one per buyer at a time, at most every 30 s.
  const refreshAttempts = new Map<string, number>();
  const scheduleRefresh = (record: CustomerRecord) => {
    if (!entitlementClient) return;
    const last = refreshAttempts.get(record.id) ?? Number.NEGATIVE_INFINITY;
    const now = clock();
    if (now - last < 30_000) return;
    refreshAttempts.set(record.id, now);
    if (refreshAttempts.size > 10_000) refreshAttempts.delete(refreshAttempts.keys().next().value as string);
    entitlements.refresh(record.identity).catch((err) => {
      logger.warn({ err, customerId: record.id }, "background entitlement refresh failed");
    });
  };

  let closed = false;
  const open = () => {
    if (closed) throw new MarketplaceError("CLOSED", "the buyers instance is closed");
  };

  const decide = (record: CustomerRecord | undefined): AccessDecision => {
    const contract = record ? products.get(record.productCode)?.contract === true : false;
    const decision = decideAccess(record, {
      now: clock(),
      contract,
      allowUnknownEntitlements: allowUnknown,
      finalWindowLeadMs,
    });
    if (
      record &&
      contract &&
      (record.status === "active" || record.status === "unsubscribe-pending") &&
      !entitlements.isFresh(record.entitlements)
    )
      scheduleRefresh(record);
    return decision;
  };

  const rank = (d: AccessDecision) => (d.allowed ? (d.finalWindow ? 1 : 2) : 0);

  const access = (subject: AccessSubject): AccessDecision => {
    if (typeof subject !== "object" || subject === null)
      throw new MarketplaceError("INVALID_ARGUMENT", "access() needs an identity or { tenantId }");
    if (!directory.loaded) return deny("unavailable");
    if ("tenantId" in subject && subject.tenantId !== undefined) {
      const { tenantId, productCode } = subject as { tenantId: unknown; productCode?: unknown };
      if (typeof tenantId !== "string" || tenantId === "")
        throw new MarketplaceError(
          "INVALID_ARGUMENT",
          "access({ tenantId }) needs a non-empty string tenantId",
        );
      if (productCode !== undefined && typeof productCode !== "string")
        throw new MarketplaceError("INVALID_ARGUMENT", "access({ productCode }) must be a string");
      const records = directory
        .getByTenant(tenantId)
        .filter((r) => productCode === undefined || r.productCode === productCode);
      if (records.length === 0) return deny("not-registered");
      // A tenant may hold several licenses: allowed if any of them allows, else the newest denial.
      let best: AccessDecision | undefined;
      let bestAt = Number.NEGATIVE_INFINITY;
      for (const r of records) {
        const d = decide(r);
        if (!best || rank(d) > rank(best) || (rank(d) === rank(best) && r.statusAt > bestAt)) {
          best = d;
          bestAt = r.statusAt;
        }
      }
      return best as AccessDecision;
    }
    const identity = parseIdentity(subject, defaultProduct);
    return decide(directory.getByIdentity(identity));
  };

  return {
    directory,
    ready: () => directory.ready(),

    async register(request) {
      open();
      return registrar.register(request);
    },

    async link(registrationId, tenantId) {
      open();
      return registrar.link(registrationId, tenantId);
    },

    async registration(registrationId) {
      open();
      if (typeof registrationId !== "string" || registrationId.length === 0 || registrationId.length > 200)
        throw new MarketplaceError("INVALID_ARGUMENT", "registration() needs a registration id string");
      const stored = await directory.store.getRegistration(registrationId);
      if (!stored || stored.expiresAt <= clock()) return undefined;
      const { tokenHash: _hidden, ...registration } = stored;
      return registration;
    },

    finalWindowsClosing(now = clock()) {
      const out: Array<{ identity: Identity; finalWindowEndsAt: number }> = [];
      for (const r of directory.list()) {
        const end = r.finalWindowEndsAt;
        // From the access cut-off until a while after AWS's end (late runs still try; AWS decides).
        if (
          r.status === "unsubscribe-pending" &&
          end !== undefined &&
          now >= end - finalWindowLeadMs &&
          now < end + finalWindowMs
        )
          out.push({ identity: r.identity, finalWindowEndsAt: end });
      }
      return out;
    },

    async handleEventBridge(eventOrRequest) {
      open();
      return handleEventBridgeInput(eventOrRequest, {
        processor,
        secret: eb.secret,
        header,
        maxBodyBytes: ebMaxBody,
        clock,
      });
    },

    async handleSns(requestOrMessage) {
      open();
      return handleSnsInput(requestOrMessage, {
        processor,
        verifier,
        autoConfirm: sns.autoConfirm === true,
        fetch: fetchImpl,
        confirmTimeoutMs: timeoutMs,
        maxBodyBytes: snsMaxBody,
        logger,
      });
    },

    async entitlements(identity, opts = {}) {
      open();
      const id = parseIdentity(identity, defaultProduct);
      if (!products.has(id.productCode))
        throw new MarketplaceError("UNKNOWN_PRODUCT", `product ${id.productCode} is not configured`);
      await directory.ready();
      const snapshot = await entitlements.get(id, { refresh: opts.refresh === true });
      return snapshot.items;
    },

    access,

    async checkAccess(subject) {
      const first = access(subject);
      if (first.allowed || (first.reason !== "not-registered" && first.reason !== "pending")) return first;
      if (closed) return first;
      try {
        await directory.refresh();
      } catch (err) {
        logger.warn({ err }, "reading the directory store for an unknown buyer failed");
        return first;
      }
      return access(subject);
    },

    noteNotSubscribed(input, opts = {}) {
      const identity = parseIdentity(input, defaultProduct);
      const at = opts.at ?? clock();
      if (typeof at !== "number" || !Number.isFinite(at))
        throw new MarketplaceError(
          "INVALID_ARGUMENT",
          "noteNotSubscribed({ at }) must be epoch milliseconds",
        );
      const record = directory.getByIdentity(identity);
      if (!record) return;
      // A rejection of usage sent before the latest activation says nothing about the buyer now.
      if (at < record.statusAt || (record.notSubscribedAt !== undefined && record.notSubscribedAt >= at))
        return;
      directory.save({ ...record, notSubscribedAt: at, updatedAt: clock() }).catch((err) => {
        logger.error({ err, customerId: record.id }, "saving the not-subscribed mark failed");
      });
      logger.warn({ customerId: record.id }, "metering reported CustomerNotSubscribed; access is denied");
    },

    async close() {
      if (closed) return;
      closed = true;
      directory.close();
      await processor.settled();
      await directory.settled();
      try {
        await directory.store.close?.();
      } finally {
        destroyClients?.();
      }
    },
  };
}
