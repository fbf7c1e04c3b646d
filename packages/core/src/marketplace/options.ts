/** Options of `createMarketplace`, their defaults and their validation. */
import { randomUUID } from "node:crypto";
import {
  type AwsOptions,
  callTimeoutMs,
  connectionTimeoutMs,
  DEFAULT_REQUEST_TIMEOUT_MS,
  parseAwsOptions,
} from "../aws/index.js";
import type { DirectoryStore } from "../directory/index.js";
import { MarketplaceError } from "../errors/index.js";
import { type IdentityInput, isValidProductCode } from "../identity/index.js";
import type { BuyersOptions } from "../lifecycle/index.js";
import { type MetricsOptions, parseMetricsOptions, type ResolvedMetricsOptions } from "../metrics/index.js";
import {
  type Clock,
  HOUR_MS,
  type Logger,
  silentLogger,
  systemClock,
  wholeMilliseconds,
} from "../runtime/index.js";
import type { UsageStore } from "../stores/index.js";
import { memoryStore } from "../stores/index.js";

/** A product this instance meters. */
export interface ProductConfig {
  /** The AWS Marketplace product code. */
  productCode: string;
  /**
   * The product sells contracts: buyers need a current entitlement (GetEntitlements) for access.
   * @default false
   */
  contract?: boolean;
}

/**
 * Options of the buyer lifecycle (registration, lifecycle notifications, entitlements, access) that a
 * marketplace instance runs next to metering. Products, AWS clients, clock and logger are shared.
 */
export type MarketplaceBuyersOptions = Omit<
  BuyersOptions,
  | "products"
  | "aws"
  | "meteringClient"
  | "entitlementClient"
  | "directory"
  | "clock"
  | "logger"
  | "finalMetering"
>;

/** Zero records for known active customers. */
export interface ZeroRecordsOptions<D extends string = string> {
  /**
   * The buyers that get a 0 record for every final hour in which they had no usage (AWS recommends
   * hourly records including zeros). A function is called once per closed hour.
   */
  identities: readonly IdentityInput[] | (() => readonly IdentityInput[]);
  /** Dimensions to fill. @default every configured dimension */
  dimensions?: readonly D[];
}

/**
 * Everything a marketplace instance needs. Only `products` and `dimensions` are required.
 *
 * @example
 * createMarketplace({
 *   products: [{ productCode: "pca1234567890abcdefghijkl" }],
 *   dimensions: ["api_calls", "gb_stored"],
 *   store: sqliteStore({ path: ".marketmeter/usage.db" }),
 *   aws: { region: "us-east-1" },
 * })
 */
export interface MarketplaceOptions<D extends readonly string[] = readonly string[]> {
  /** Products metered by this instance (at least one). */
  products: readonly ProductConfig[];
  /**
   * Where buyers, pending registrations and seen notification ids live (for example
   * `sqliteDirectory({ path })`). @default memoryDirectoryStore()
   */
  directory?: DirectoryStore;
  /** Registration, SNS, EventBridge, entitlement and access settings. @default {} */
  buyers?: MarketplaceBuyersOptions;
  /** The product's dimensions, exactly as defined in AWS Marketplace (case-sensitive). */
  dimensions: D;
  /** Where grains live. @default memoryStore() (not durable) */
  store?: UsageStore;
  /** AWS connection (region, endpoint, credentials) or injected clients. @default { region: "us-east-1" } */
  aws?: AwsOptions;
  /** Run everything but never call AWS; grains end as `sent` with reason "dry-run". @default false */
  dryRun?: boolean;
  /** Current time in epoch ms (business time: hours, windows, leases). @default Date.now */
  clock?: Clock;
  /** A pino-compatible logger. @default a silent logger */
  logger?: Logger;
  /**
   * How long after an hour ends it stays open for late events before it is closed and sent.
   * @default 300000 (5 minutes)
   */
  gracePeriodMs?: number;
  /** How often in-memory sums are written to the store (the most a hard crash can lose). @default 1000 */
  checkpointIntervalMs?: number;
  /** How often closed hours are looked for and sent. @default 10000 */
  reportIntervalMs?: number;
  /** Most BatchMeterUsage calls started per second (AWS quota: 10 per account and Region). @default 10 */
  callsPerSecond?: number;
  /** Back-off of failed attempts (exponential with full jitter). @default { baseDelayMs: 1000, maxDelayMs: 300000 } */
  retry?: { baseDelayMs?: number; maxDelayMs?: number };
  /**
   * How long a claimed grain is reserved for this instance while it is being sent. It must be longer
   * than the worst-case AWS call (`aws.maxAttempts × (aws.requestTimeoutMs + connection time)`, 15000 ms
   * with the defaults) plus a 5000 ms margin: a sender whose lease ran out can no longer write its
   * outcome, and another instance may take the grain over.
   * @default 60000
   */
  leaseMs?: number;
  /** Warn (event `windowWarning`) when an unsent grain has less than this left in its window. @default 10800000 (3 h) */
  windowWarningMs?: number;
  /**
   * Emit `storeUnreachable` once the store has failed with no successful write for this long (usage then
   * waits in memory and nothing is sent; reads may still answer, e.g. a full disk). `storeRecovered` follows when the store answers again.
   * @default 120000 (2 min)
   */
  storeUnreachableMs?: number;
  /**
   * OpenTelemetry metrics (usage recorded, grains by state, oldest unsent grain, send latency, calls by
   * outcome, checkpoint lag, store errors). A no-op until the app registers a MeterProvider.
   * @default { enabled: true, refreshIntervalMs: 15000 } with the global MeterProvider
   * @example
   * createMarketplace({ ...options, metrics: { meterProvider } })
   */
  metrics?: MetricsOptions;
  /** Send 0 records for known active customers when an hour is final. @default none */
  zeroRecords?: ZeroRecordsOptions<D[number]>;
  /** How far in the future a `timestamp` may be (clock skew between hosts). @default 300000 */
  maxFutureSkewMs?: number;
  /** Name of this instance as lease owner. @default a random id */
  instanceId?: string;
  /**
   * Most usage grains (identity × dimension × hour) recorded in memory while they wait for the store: the
   * bound on memory while the store is unreachable (plus one unconfirmed batch of at most as many). When
   * reached, usage for a new grain is refused, never thrown into the request: counted in
   * `stats().overflowRecords`, an `overflow` event and one log line per episode; grains already held
   * keep counting. Set it well above the grains one checkpoint interval creates.
   * @default 100000
   */
  maxBufferedGrains?: number;
  /** Start the checkpoint and report timers at once. Set false to drive everything with `flush()`. @default true */
  autoStart?: boolean;
  /**
   * The whole budget of `close()`: it saves in-memory usage to the store first, then sends what is due
   * for the rest of the budget, aborts a call still out when the budget ends (its grains stay in a
   * durable store, marked uncertain when AWS may have recorded them) and closes the store. The default
   * fits a Kubernetes 30 s termination grace period with `closeOnShutdown`'s 25 s and the 15 s deadline
   * of one AWS call.
   * @default 20000
   */
  closeTimeoutMs?: number;
  /** Random source of the back-off jitter. @default Math.random */
  random?: () => number;
}

export interface ResolvedOptions {
  productCodes: string[];
  products: ProductConfig[];
  directory: DirectoryStore | undefined;
  buyers: MarketplaceBuyersOptions;
  dimensions: string[];
  store: UsageStore;
  aws: AwsOptions;
  dryRun: boolean;
  clock: Clock;
  logger: Logger;
  gracePeriodMs: number;
  checkpointIntervalMs: number;
  reportIntervalMs: number;
  callsPerSecond: number;
  retry: { baseDelayMs: number; maxDelayMs: number };
  leaseMs: number;
  windowWarningMs: number;
  storeUnreachableMs: number;
  metrics: ResolvedMetricsOptions;
  zeroRecords: ZeroRecordsOptions | undefined;
  maxFutureSkewMs: number;
  instanceId: string;
  maxBufferedGrains: number;
  autoStart: boolean;
  closeTimeoutMs: number;
  random: () => number;
}

const KNOWN = new Set([
  "products",
  "directory",
  "buyers",
  "dimensions",
  "store",
  "aws",
  "dryRun",
  "clock",
  "logger",
  "gracePeriodMs",
  "checkpointIntervalMs",
  "reportIntervalMs",
  "callsPerSecond",
  "retry",
  "leaseMs",
  "windowWarningMs",
  "storeUnreachableMs",
  "metrics",
  "zeroRecords",
  "maxFutureSkewMs",
  "instanceId",
  "maxBufferedGrains",
  "autoStart",
  "closeTimeoutMs",
  "random",
]);

/**
 * What a lease must leave beyond the worst-case call: the settle's store write and clock skew between
 * instances sharing a store.
 */
export const LEASE_MARGIN_MS = 5_000;

function invalid(message: string): never {
  throw new MarketplaceError("INVALID_CONFIG", message);
}

function int(
  o: Record<string, unknown>,
  key: string,
  def: number,
  min: number,
  max: number,
  unit = "ms",
): number {
  const v = o[key];
  if (v === undefined) return def;
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min || v > max)
    invalid(`${key} must be an integer from ${min} to ${max} (${unit})`);
  return v;
}

function isFn(v: unknown): boolean {
  return typeof v === "function";
}

/** Validates options and fills in defaults. Throws `INVALID_CONFIG` saying what to fix. */
export function resolveOptions(input: unknown): ResolvedOptions {
  if (typeof input !== "object" || input === null) invalid("createMarketplace needs an options object");
  const o = input as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!KNOWN.has(k)) invalid(`unknown option "${k}"`);

  if (!Array.isArray(o.products) || o.products.length === 0)
    invalid('products must be a non-empty array like [{ productCode: "prod-…" }]');
  const productCodes: string[] = [];
  for (const p of o.products as unknown[]) {
    const code = typeof p === "object" && p !== null ? (p as ProductConfig).productCode : undefined;
    if (!isValidProductCode(code))
      invalid("each product needs a productCode of 1-255 characters of [-a-zA-Z0-9/=:_.@]");
    if (productCodes.includes(code)) invalid(`product ${code} is listed twice`);
    productCodes.push(code);
  }

  if (!Array.isArray(o.dimensions) || o.dimensions.length === 0)
    invalid('dimensions must be a non-empty array of dimension names, e.g. ["api_calls"]');
  const dimensions: string[] = [];
  for (const d of o.dimensions as unknown[]) {
    if (typeof d !== "string" || d.length < 1 || d.length > 255 || /[\u0000-\u001f\u007f]/.test(d))
      invalid("each dimension must be a string of 1-255 characters without control characters");
    if (dimensions.includes(d)) invalid(`dimension ${JSON.stringify(d)} is listed twice`);
    dimensions.push(d);
  }

  const store = o.store ?? memoryStore();
  const s = store as Partial<UsageStore>;
  if (
    typeof s !== "object" ||
    s === null ||
    !["add", "closeGrains", "claim", "settle", "release", "get", "list", "counts", "close"].every((m) =>
      isFn((s as Record<string, unknown>)[m]),
    )
  )
    invalid("store must implement the UsageStore interface (for example memoryStore() or sqliteStore())");

  const aws = parseAwsOptions(o.aws);
  if (o.dryRun !== undefined && typeof o.dryRun !== "boolean") invalid("dryRun must be a boolean");
  if (o.autoStart !== undefined && typeof o.autoStart !== "boolean") invalid("autoStart must be a boolean");
  if (o.clock !== undefined && !isFn(o.clock))
    invalid("clock must be a function returning epoch milliseconds");
  if (o.random !== undefined && !isFn(o.random))
    invalid("random must be a function returning a number in [0, 1)");
  if (o.logger !== undefined) {
    const l = o.logger as Record<string, unknown>;
    if (typeof l !== "object" || l === null || !["debug", "info", "warn", "error"].every((m) => isFn(l[m])))
      invalid("logger must have debug, info, warn and error methods (pino-compatible)");
  }
  let callsPerSecond = 10;
  if (o.callsPerSecond !== undefined) {
    const c = o.callsPerSecond;
    if (typeof c !== "number" || !Number.isFinite(c) || c <= 0 || c > 1000)
      invalid("callsPerSecond must be a number above 0 and at most 1000");
    callsPerSecond = c;
  }
  let retry = { baseDelayMs: 1000, maxDelayMs: 300_000 };
  if (o.retry !== undefined) {
    if (typeof o.retry !== "object" || o.retry === null)
      invalid("retry must be { baseDelayMs?, maxDelayMs? }");
    const r = o.retry as Record<string, unknown>;
    for (const k of Object.keys(r))
      if (k !== "baseDelayMs" && k !== "maxDelayMs") invalid(`retry.${k} is not a known option`);
    retry = {
      baseDelayMs: int(r, "baseDelayMs", 1000, 1, 3_600_000),
      maxDelayMs: int(r, "maxDelayMs", 300_000, 1, 6 * HOUR_MS),
    };
    if (retry.maxDelayMs < retry.baseDelayMs) invalid("retry.maxDelayMs must be at least retry.baseDelayMs");
  }
  let zeroRecords: ZeroRecordsOptions | undefined;
  if (o.zeroRecords !== undefined) {
    const z = o.zeroRecords as Record<string, unknown>;
    if (typeof z !== "object" || z === null || (!Array.isArray(z.identities) && !isFn(z.identities)))
      invalid("zeroRecords must be { identities: IdentityInput[] | () => IdentityInput[], dimensions? }");
    if (z.dimensions !== undefined) {
      if (!Array.isArray(z.dimensions) || z.dimensions.some((d) => !dimensions.includes(d)))
        invalid("zeroRecords.dimensions must list configured dimensions");
    }
    zeroRecords = z as unknown as ZeroRecordsOptions;
  }
  let instanceId = `mm-${randomUUID()}`;
  if (o.instanceId !== undefined) {
    if (typeof o.instanceId !== "string" || o.instanceId.length < 1 || o.instanceId.length > 200)
      invalid("instanceId must be a string of 1-200 characters");
    instanceId = o.instanceId;
  }
  const checkpointIntervalMs = int(o, "checkpointIntervalMs", 1000, 10, 60_000);
  const leaseMs = int(o, "leaseMs", 60_000, 1000, HOUR_MS);
  const callMs = callTimeoutMs(aws);
  if (leaseMs <= callMs + LEASE_MARGIN_MS) {
    const request = aws.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    invalid(
      `leaseMs (${leaseMs}) must be longer than the worst-case AWS call plus ${LEASE_MARGIN_MS} ms: ` +
        `${callMs} ms = aws.maxAttempts (${aws.maxAttempts ?? 1}) × (aws.requestTimeoutMs (${request}) + ` +
        `${connectionTimeoutMs(request)} ms to connect). Raise leaseMs above ${callMs + LEASE_MARGIN_MS}, ` +
        "or lower aws.requestTimeoutMs or aws.maxAttempts",
    );
  }
  if (o.buyers !== undefined && (typeof o.buyers !== "object" || o.buyers === null))
    invalid("buyers must be an object of registration, sns, eventBridge, entitlements and access options");
  if (o.directory !== undefined && (typeof o.directory !== "object" || o.directory === null))
    invalid("directory must be a DirectoryStore (for example memoryDirectoryStore() or sqliteDirectory())");
  return {
    productCodes,
    products: (o.products as ProductConfig[]).map((p) => ({ ...p })),
    directory: o.directory as DirectoryStore | undefined,
    buyers: (o.buyers as MarketplaceBuyersOptions | undefined) ?? {},
    dimensions,
    store: store as UsageStore,
    aws,
    dryRun: (o.dryRun as boolean | undefined) ?? false,
    clock: wholeMilliseconds((o.clock as Clock | undefined) ?? systemClock),
    logger: (o.logger as Logger | undefined) ?? silentLogger,
    // At most 3 h, so the last hour of a month still closes well before the 06:00 UTC cut-off.
    gracePeriodMs: int(o, "gracePeriodMs", 300_000, 0, 3 * HOUR_MS),
    checkpointIntervalMs,
    reportIntervalMs: int(
      o,
      "reportIntervalMs",
      Math.max(10_000, checkpointIntervalMs),
      checkpointIntervalMs,
      HOUR_MS,
    ),
    callsPerSecond,
    retry,
    leaseMs,
    windowWarningMs: int(o, "windowWarningMs", 3 * HOUR_MS, 0, 23 * HOUR_MS),
    storeUnreachableMs: int(o, "storeUnreachableMs", 120_000, 0, 23 * HOUR_MS),
    metrics: parseMetricsOptions(o.metrics),
    zeroRecords,
    maxFutureSkewMs: int(o, "maxFutureSkewMs", 300_000, 0, HOUR_MS),
    instanceId,
    maxBufferedGrains: int(o, "maxBufferedGrains", 100_000, 1, 100_000_000, "grains"),
    autoStart: (o.autoStart as boolean | undefined) ?? true,
    closeTimeoutMs: int(o, "closeTimeoutMs", 20_000, 0, 600_000),
    random: (o.random as (() => number) | undefined) ?? Math.random,
  };
}
