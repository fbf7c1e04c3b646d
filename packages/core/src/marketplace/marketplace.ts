/**
 * A configured marketplace instance: the hot-path `record()`, the checkpoint that moves in-memory sums
 * into the store, the closer that freezes final hours, and the reporter that sends them.
 */

import type { AccessDecision } from "../access/index.js";
import { type AwsClients, callTimeoutMs, createAwsClients } from "../aws/index.js";
import type { CustomerRecord, Entitlement, Registration } from "../directory/index.js";
import { MarketplaceError } from "../errors/index.js";
import { declareHttpSettings } from "../http/index.js";
import { type Identity, type IdentityInput, identityFromKey } from "../identity/index.js";
import type { LifecycleOutcome } from "../lifecycle/index.js";
import { type AccessSubject, type Buyers, createBuyers } from "../lifecycle/index.js";
import { Telemetry } from "../metrics/index.js";
import { UsagePipeline, within } from "../pipeline/index.js";
import type { IncomingRequest } from "../registration/index.js";
import {
  awsSender,
  dryRunSender,
  type Emit,
  type MarketplaceEventName,
  type MarketplaceEvents,
  type ReporterStats,
  type UsageSender,
} from "../reporter/index.js";
import { hourStart } from "../runtime/index.js";
import { type GrainState, grainKey, type StoredGrain, type UsageStore } from "../stores/index.js";
import { Accumulator, tagsFromKey, type UsageInput } from "../usage/index.js";
import { LEASE_MARGIN_MS, type MarketplaceOptions, type ResolvedOptions, resolveOptions } from "./options.js";

/** A grain as `report()` returns it. */
export interface GrainReport {
  identity: Identity;
  dimension: string;
  /** Start of the UTC hour. */
  hour: Date;
  quantity: number;
  state: GrainState;
  /**
   * An attempt may have reached AWS without us seeing the answer (timeout, 5xx, a lease that ran out):
   * a later `DuplicateRecord` is then our own write; past the window the grain ends `uncertain`.
   */
  uncertain: boolean;
  /** Per tag set shares (only when the grain has tagged usage). */
  allocations?: Array<{ quantity: number; tags?: Record<string, string> }>;
  meteringRecordId?: string;
  reason?: string;
  attempts: number;
  nextAttemptAt?: Date;
  lastError?: string;
  closedAt?: Date;
  settledAt?: Date;
}

/** Counters since the instance started: the reporter's (calls, sent, throttled, …) and the engine's. */
export interface MarketplaceStats extends ReporterStats {
  /** `record()` calls accepted. */
  records: number;
  /** Sum of accepted quantities. */
  quantity: number;
  /** Grains waiting in memory for the next checkpoint (including a batch the store has not taken yet). */
  inMemoryGrains: number;
  /** `record()` calls refused because `maxBufferedGrains` was reached, and their quantity. */
  overflowRecords: number;
  overflowQuantity: number;
  /** This process start's checkpoint writer id (random per start; not the lease owner `instanceId`). */
  instance: string;
  checkpoints: number;
  checkpointErrors: number;
  lastCheckpointAt: Date | undefined;
  carriedForward: number;
}

export interface ReportQuery {
  /** First hour (inclusive). */
  from?: Date | number;
  /** End (exclusive). */
  to?: Date | number;
  identity?: IdentityInput;
  states?: readonly GrainState[];
  /** @default 10000 */
  limit?: number;
}

/** Options of {@link Marketplace.flush}. */
export interface FlushOptions {
  /** Final metering for this buyer: their open hour is closed and sent now. */
  identity?: IdentityInput;
  /** Send retrying grains now, without waiting for their back-off. @default false */
  ignoreBackoff?: boolean;
}

/** A configured marketplace instance. */
export interface Marketplace<D extends string = string> {
  /**
   * Records usage: validates the input (throws a `MarketplaceError` with a clear code for bad input)
   * and adds it to an in-memory grain. Synchronous, O(1), and it never fails because of AWS or the store.
   *
   * @example
   * marketplace.record({ identity: { customerAWSAccountId, licenseArn }, dimension: "api_calls", quantity: 1 })
   */
  record(usage: UsageInput<D> & { identity: IdentityInput | Identity }): void;
  /**
   * Checkpoints, closes every hour that is final and sends everything due. With `identity`: final
   * metering for that buyer (cancellation): their open hour is closed and sent now; later usage of that
   * hour is carried forward to the next hour, never sent twice.
   *
   * With `ignoreBackoff: true`, retrying grains are sent now instead of after their back-off (what
   * `marketmeter retry` does once the cause, say an IAM policy, is fixed); pacing still applies.
   *
   * @example
   * await marketplace.flush({ identity: { customerAWSAccountId: "123456789012", licenseArn } })
   */
  flush(options?: FlushOptions): Promise<void>;
  /** Writes in-memory sums to the store now. */
  checkpoint(): Promise<void>;
  /**
   * Stops the timers, saves in-memory usage to the store, sends what is due within what is left of
   * `closeTimeoutMs` (a call still out at the end is aborted; a durable store keeps its grains) and
   * closes the store. The whole of close() is bounded by `closeTimeoutMs`, however slow AWS is. With a
   * non-durable store (memory), every open hour is sent too, so nothing is silently lost.
   */
  close(): Promise<void>;
  /** Starts the timers (when `autoStart: false`). */
  start(): void;
  /** Subscribes to an event; returns the function that unsubscribes. */
  on<E extends MarketplaceEventName>(event: E, handler: (payload: MarketplaceEvents[E]) => void): () => void;
  /** Grains and their fate, for audits. Checkpoints first so recent usage is included. */
  report(query?: ReportQuery): Promise<GrainReport[]>;
  /** One grain's fate. */
  grain(query: {
    identity: IdentityInput;
    dimension: D;
    hour: Date | number;
  }): Promise<GrainReport | undefined>;
  /** Counters since start. */
  stats(): MarketplaceStats;
  /**
   * Handles the fulfillment-URL POST (`x-amzn-marketplace-token`): resolves the token with AWS at once
   * and returns a pending registration to bind to your tenant with {@link Marketplace.link}. Submitting
   * the same token again returns the same registration.
   *
   * @example
   * const registration = await marketplace.register({ method: "POST", headers: req.headers, body: rawBody })
   * res.redirect(303, `/signup?registration=${registration.id}`)
   */
  register(request: IncomingRequest): Promise<Registration>;
  /**
   * Binds a pending registration to your tenant after the buyer signed in (once; not after it expired).
   *
   * @example
   * await marketplace.link(req.query.registration, session.tenantId)
   */
  link(registrationId: string, tenantId: string): Promise<CustomerRecord>;
  /**
   * A pending (or linked) registration by id, for your sign-up page (product, identity, free trial);
   * undefined when unknown or expired.
   *
   * @example
   * const registration = await marketplace.registration(req.query.registration)
   * if (!registration) return res.status(410).send("This sign-up link has expired")
   */
  registration(registrationId: string): Promise<Registration | undefined>;
  /**
   * An EventBridge Marketplace event (object or JSON text, e.g. from a Lambda or a queue), or an API
   * destination webhook request (authenticated by `buyers.eventBridge.secret`).
   *
   * @example
   * export const handler = (event) => marketplace.handleEventBridge(event)
   */
  handleEventBridge(eventOrRequest: unknown): Promise<LifecycleOutcome>;
  /**
   * A legacy SNS HTTP notification (request), or an SNS envelope (object or JSON text, e.g. from SQS);
   * the signature is verified before anything changes.
   *
   * @example
   * await marketplace.handleSns({ method: "POST", headers: req.headers, body: rawText })
   */
  handleSns(requestOrMessage: unknown): Promise<LifecycleOutcome>;
  /**
   * Synchronous, O(1) access decision for a buyer (identity) or your tenant, from the in-memory directory.
   *
   * @example
   * const decision = marketplace.access({ tenantId })
   * if (!decision.allowed) res.status(decision.status).json({ reason: decision.reason })
   */
  access(subject: AccessSubject): AccessDecision;
  /**
   * A buyer's entitlements (contract products), from GetEntitlements, cached.
   *
   * @example
   * const list = await marketplace.entitlements({ customerAWSAccountId, licenseArn })
   */
  entitlements(identity: IdentityInput, options?: { refresh?: boolean }): Promise<readonly Entitlement[]>;
  /** The buyer lifecycle (registration, directory, notifications, access) this instance runs. */
  readonly buyers: Buyers;
  /** The store in use. */
  readonly store: UsageStore;
  /** The lease owner name of this instance. */
  readonly instanceId: string;
  readonly dryRun: boolean;
}

/**
 * What a sibling factory (deployments: container, AMI, AgentCore) changes in an instance: the sender, the
 * acceptance window, and who every request belongs to. Not part of the public API.
 */
export interface MarketplaceInternals {
  /** Sends closed grains (default: BatchMeterUsage, or the dry-run sender). */
  sender?: UsageSender;
  /** When AWS stops accepting a record of an hour. @default BatchMeterUsage's 24 h */
  acceptanceDeadline?: (timestamp: number) => number;
  /** Decides access instead of the buyer directory. */
  access?: (subject: AccessSubject) => AccessDecision;
  /** The customer of every request, declared for the HTTP layer instead of an adapter's `getCustomer`. */
  getCustomer?: () => IdentityInput;
}

const EVENT_NAMES: readonly MarketplaceEventName[] = [
  "sent",
  "rejected",
  "expired",
  "uncertain",
  "retrying",
  "carriedForward",
  "duplicate",
  "windowWarning",
  "overflow",
  "storeUnreachable",
  "storeRecovered",
  "error",
];

/** The facade: validates what callers pass, forwards usage to the pipeline and buyers to the lifecycle. */
class MarketplaceImpl<D extends string> implements Marketplace<D> {
  // What record() reads comes first, so it shares a cache line with the object's header.
  private readonly acc: Accumulator;
  private closed = false;
  readonly store: UsageStore;
  readonly instanceId: string;
  readonly dryRun: boolean;
  readonly buyers: Buyers;
  private readonly o: ResolvedOptions;
  private readonly pipeline: UsagePipeline;
  private readonly clients: AwsClients | undefined;
  private readonly telemetry: Telemetry;
  private readonly handlers = new Map<MarketplaceEventName, Set<(p: never) => void>>();

  private readonly decide: ((subject: AccessSubject) => AccessDecision) | undefined;

  constructor(options: ResolvedOptions, internals: MarketplaceInternals = {}) {
    this.o = options;
    this.decide = internals.access;
    this.store = options.store;
    this.instanceId = options.instanceId;
    this.dryRun = options.dryRun;
    this.acc = new Accumulator({
      dimensions: options.dimensions,
      productCodes: options.productCodes,
      clock: options.clock,
      maxFutureMs: options.maxFutureSkewMs,
    });
    // SDK clients open no connection until used; registration needs ResolveCustomer even in dry-run mode.
    this.clients = createAwsClients(options.aws);
    this.buyers = createBuyers({
      ...options.buyers,
      products: options.products,
      meteringClient: this.clients.metering,
      entitlementClient: this.clients.entitlement,
      ...(options.directory ? { directory: options.directory } : {}),
      clock: options.clock,
      logger: options.logger,
      // Cancellation: send the buyer's open hour now, while AWS still accepts it.
      finalMetering: (identity) => this.flush({ identity }),
    });
    const buyers = this.buyers;
    // Metrics and the store alert watch the pipeline's edges; record() stays untouched.
    this.telemetry = new Telemetry({
      metrics: options.metrics,
      clock: options.clock,
      logger: options.logger,
      emit: this.emit,
      storeUnreachableMs: options.storeUnreachableMs,
      memory: () => {
        const s = this.pipeline.stats();
        // A batch the store has not confirmed is still in memory only.
        return { inMemoryGrains: s.bufferedGrains, lastCheckpointAt: s.lastCheckpointAt };
      },
    });
    this.pipeline = new UsagePipeline({
      accumulator: this.acc,
      store: this.telemetry.watchStore(options.store),
      sender: this.telemetry.watchSender(
        internals.sender ?? (options.dryRun ? dryRunSender() : awsSender(this.clients.metering)),
      ),
      ...(internals.acceptanceDeadline ? { acceptanceDeadline: internals.acceptanceDeadline } : {}),
      emit: this.emit,
      clock: options.clock,
      logger: options.logger,
      owner: options.instanceId,
      dimensions: options.dimensions,
      gracePeriodMs: options.gracePeriodMs,
      checkpointIntervalMs: options.checkpointIntervalMs,
      reportIntervalMs: options.reportIntervalMs,
      callsPerSecond: options.callsPerSecond,
      retry: options.retry,
      leaseMs: options.leaseMs,
      // Validated shorter than the lease, so a fresh claim can always make its call.
      leaseSafetyMs: callTimeoutMs(options.aws) + LEASE_MARGIN_MS,
      windowWarningMs: options.windowWarningMs,
      zeroRecords: options.zeroRecords,
      random: options.random,
      maxBufferedGrains: options.maxBufferedGrains,
      // AWS's quota is per account and Region; instances sharing a store share one bucket.
      sendBucket: `batchMeterUsage:${options.aws.region ?? "us-east-1"}`,
      finalWindowsClosing: (now) => buyers.finalWindowsClosing(now),
    });
    // AWS saying CustomerNotSubscribed is the freshest word on a buyer: access follows it at once.
    this.on("rejected", (e) => {
      if (e.code === "CUSTOMER_NOT_SUBSCRIBED") this.buyers.noteNotSubscribed(e.grain.identity);
    });
    if (options.autoStart) this.start();
  }

  readonly emit: Emit = (event, payload) => {
    const set = this.handlers.get(event);
    if (!set) return;
    for (const h of set) {
      try {
        (h as (p: typeof payload) => void)(payload);
      } catch (err) {
        this.o.logger.error({ event, error: String(err) }, "marketmeter: an event handler threw");
        if (event !== "error")
          this.emit("error", {
            error: new MarketplaceError("INVALID_ARGUMENT", `a "${event}" handler threw`, { cause: err }),
            phase: "handler",
          });
      }
    }
  };

  on<E extends MarketplaceEventName>(event: E, handler: (payload: MarketplaceEvents[E]) => void): () => void {
    if (!EVENT_NAMES.includes(event))
      throw new MarketplaceError(
        "INVALID_ARGUMENT",
        `unknown event ${JSON.stringify(event)} (known: ${EVENT_NAMES.join(", ")})`,
      );
    if (typeof handler !== "function")
      throw new MarketplaceError("INVALID_ARGUMENT", "handler must be a function");
    let set = this.handlers.get(event);
    if (!set) this.handlers.set(event, (set = new Set()));
    const h = handler as (p: never) => void;
    set.add(h);
    return () => {
      set.delete(h);
    };
  }

  register(request: IncomingRequest): Promise<Registration> {
    return this.buyers.register(request);
  }

  link(registrationId: string, tenantId: string): Promise<CustomerRecord> {
    return this.buyers.link(registrationId, tenantId);
  }

  registration(registrationId: string): Promise<Registration | undefined> {
    return this.buyers.registration(registrationId);
  }

  handleEventBridge(eventOrRequest: unknown): Promise<LifecycleOutcome> {
    return this.buyers.handleEventBridge(eventOrRequest);
  }

  handleSns(requestOrMessage: unknown): Promise<LifecycleOutcome> {
    return this.buyers.handleSns(requestOrMessage);
  }

  access(subject: AccessSubject): AccessDecision {
    return this.decide ? this.decide(subject) : this.buyers.access(subject);
  }

  entitlements(identity: IdentityInput, options?: { refresh?: boolean }): Promise<readonly Entitlement[]> {
    return this.buyers.entitlements(identity, options);
  }

  record(usage: UsageInput<D> & { identity: IdentityInput | Identity }): void {
    if (this.closed)
      throw new MarketplaceError("CLOSED", "record() after close(): this marketplace instance is closed");
    this.acc.record(usage);
  }

  start(): void {
    if (this.closed) throw new MarketplaceError("CLOSED", "start() after close()");
    this.pipeline.start();
  }

  checkpoint(): Promise<void> {
    return this.pipeline.checkpoint();
  }

  async flush(options: FlushOptions = {}): Promise<void> {
    if (typeof options !== "object" || options === null)
      throw new MarketplaceError("INVALID_ARGUMENT", "flush() takes an optional { identity, ignoreBackoff }");
    if (options.ignoreBackoff !== undefined && typeof options.ignoreBackoff !== "boolean")
      throw new MarketplaceError(
        "INVALID_ARGUMENT",
        `flush({ ignoreBackoff }) must be true or false; got ${typeof options.ignoreBackoff}`,
      );
    const target =
      options.identity === undefined ? undefined : this.acc.resolveIdentity(options.identity).key;
    await this.pipeline.flush(target, { ignoreBackoff: options.ignoreBackoff === true });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Wall time, not the business clock: the budget is what the process has left before it is killed.
    const end = performance.now() + this.o.closeTimeoutMs;
    const left = () => Math.max(0, end - performance.now());
    // Abort a call still out a little before the end, so its grains are written back before the store closes.
    const reserve = Math.min(1000, Math.floor(this.o.closeTimeoutMs / 4));
    try {
      await this.pipeline.close(left, reserve, async () => {
        try {
          await within(this.buyers.close(), left(), "closing the buyer lifecycle");
        } catch (err) {
          this.o.logger.warn({ error: String(err) }, "marketmeter: closing the buyer lifecycle failed");
        }
      });
    } finally {
      this.telemetry.close();
      this.clients?.destroy();
    }
  }

  async report(query: ReportQuery = {}): Promise<GrainReport[]> {
    if (typeof query !== "object" || query === null)
      throw new MarketplaceError("INVALID_ARGUMENT", "report() takes { from?, to?, identity?, states? }");
    const identityKey =
      query.identity === undefined ? undefined : this.acc.resolveIdentity(query.identity).key;
    if (!this.closed) await this.checkpoint();
    const from = toMs(query.from, "from");
    const to = toMs(query.to, "to");
    const rows = await this.pipeline.list({
      ...(from !== undefined ? { hourFrom: hourStart(from) } : {}),
      ...(to !== undefined ? { hourTo: to } : {}),
      ...(query.states ? { states: query.states } : {}),
      ...(identityKey !== undefined ? { identityKey } : {}),
      ...(query.limit !== undefined ? { limit: query.limit } : {}),
    });
    return rows.map(toReport);
  }

  async grain(query: {
    identity: IdentityInput;
    dimension: D;
    hour: Date | number;
  }): Promise<GrainReport | undefined> {
    if (typeof query !== "object" || query === null)
      throw new MarketplaceError("INVALID_ARGUMENT", "grain() takes { identity, dimension, hour }");
    const { key } = this.acc.resolveIdentity(query.identity);
    const hour = toMs(query.hour, "hour");
    if (hour === undefined) throw new MarketplaceError("INVALID_ARGUMENT", "grain() needs an hour");
    if (!this.closed) await this.checkpoint();
    const g = await this.pipeline.get(grainKey(key, query.dimension, hourStart(hour)));
    return g ? toReport(g) : undefined;
  }

  stats(): MarketplaceStats {
    const { lastCheckpointAt, bufferedGrains, ...r } = this.pipeline.stats();
    return {
      records: this.acc.records,
      quantity: this.acc.quantity,
      inMemoryGrains: bufferedGrains,
      overflowRecords: this.acc.overflowRecords,
      overflowQuantity: this.acc.overflowQuantity,
      ...r,
      lastCheckpointAt: lastCheckpointAt ? new Date(lastCheckpointAt) : undefined,
    };
  }
}

function toReport(g: StoredGrain): GrainReport {
  const r: GrainReport = {
    identity: identityFromKey(g.identityKey),
    dimension: g.dimension,
    hour: new Date(g.hour),
    quantity: g.quantity,
    state: g.state,
    uncertain: g.uncertain,
    attempts: g.attempts,
  };
  if (g.allocations) {
    const entries = Object.entries(g.allocations);
    if (entries.some(([k]) => k !== ""))
      r.allocations = entries.map(([k, quantity]) => {
        const tags = tagsFromKey(k);
        return tags
          ? { quantity, tags: Object.fromEntries(tags.map((t) => [t.Key, t.Value])) }
          : { quantity };
      });
  }
  if (g.meteringRecordId) r.meteringRecordId = g.meteringRecordId;
  if (g.reason) r.reason = g.reason;
  if (g.nextAttemptAt !== undefined && g.state === "retrying") r.nextAttemptAt = new Date(g.nextAttemptAt);
  if (g.lastError) r.lastError = g.lastError;
  if (g.closedAt !== undefined) r.closedAt = new Date(g.closedAt);
  if (g.settledAt !== undefined) r.settledAt = new Date(g.settledAt);
  return r;
}

function toMs(v: Date | number | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const t = v instanceof Date ? v.getTime() : v;
  if (typeof t !== "number" || !Number.isFinite(t))
    throw new MarketplaceError("INVALID_ARGUMENT", `${name} must be a Date or epoch milliseconds`);
  return t;
}

/**
 * Creates a marketplace instance. `dimensions` given as a literal list make `record()` reject other
 * names at compile time.
 *
 * @example
 * import { createMarketplace } from "@marketmeter/core";
 * const marketplace = createMarketplace({
 *   products: [{ productCode: "pca1234567890abcdefghijkl" }],
 *   dimensions: ["api_calls", "gb_stored"],
 *   aws: { region: "us-east-1" },
 * });
 * marketplace.record({ identity: { customerAWSAccountId, licenseArn }, dimension: "api_calls", quantity: 1 });
 * process.on("SIGTERM", () => marketplace.close());
 */
export function createMarketplace<const D extends readonly string[]>(
  options: MarketplaceOptions<D>,
): Marketplace<D[number]> {
  return createMarketplaceWith(options, {});
}

/** {@link createMarketplace} with a sibling factory's changes (internal). */
export function createMarketplaceWith<const D extends readonly string[]>(
  options: MarketplaceOptions<D>,
  internals: MarketplaceInternals,
): Marketplace<D[number]> {
  // The HTTP layer's handlers default to this logger, clock and these body limits (said once, here).
  const resolved = resolveOptions(options);
  const marketplace = new MarketplaceImpl<D[number]>(resolved, internals);
  return declareHttpSettings(marketplace, {
    logger: options.logger,
    buyers: options.buyers,
    clock: resolved.clock,
    getCustomer: internals.getCustomer,
    fixedCustomer: internals.getCustomer !== undefined || undefined,
  });
}
