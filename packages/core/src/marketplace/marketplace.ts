/**
 * A configured marketplace instance: the hot-path `record()`, the checkpoint that moves in-memory sums
 * into the store, the closer that freezes final hours, and the reporter that sends them.
 */
import { BatchMeterUsageCommand } from "@aws-sdk/client-marketplace-metering";
import {
  type AwsClients,
  callDeadlineOf,
  callTimeoutMs,
  createAwsClients,
  withDeadline,
} from "../aws/index.js";
import { MarketplaceError, isMarketplaceError } from "../errors/index.js";
import { type Identity, type IdentityInput, identityFromKey } from "../identity/index.js";
import { HOUR_MS, hourStart } from "../runtime/index.js";
import {
  type Emit,
  type MarketplaceEventName,
  type MarketplaceEvents,
  RateLimiter,
  Reporter,
  type ReporterStats,
  type SendFn,
} from "../reporter/index.js";
import {
  type GrainState,
  type StoredGrain,
  type UsageDelta,
  type UsageStore,
  grainKey,
} from "../stores/index.js";
import { Accumulator, type UsageInput, acceptanceDeadline, tagsFromKey } from "../usage/index.js";
import type { AccessDecision } from "../access/index.js";
import type { CustomerRecord, Entitlement, Registration } from "../directory/index.js";
import { type AccessSubject, type Buyers, createBuyers } from "../lifecycle/buyers.js";
import type { LifecycleOutcome } from "../lifecycle/index.js";
import type { IncomingRequest } from "../registration/index.js";
import { LEASE_MARGIN_MS, type MarketplaceOptions, type ResolvedOptions, resolveOptions } from "./options.js";
import { declareHttpSettings } from "../http/index.js";

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
  /** Grains waiting in memory for the next checkpoint. */
  inMemoryGrains: number;
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
   * @example
   * await marketplace.flush({ identity: { customerAWSAccountId: "123456789012", licenseArn } })
   */
  flush(options?: { identity?: IdentityInput }): Promise<void>;
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

const EVENT_NAMES: readonly MarketplaceEventName[] = [
  "sent",
  "rejected",
  "expired",
  "uncertain",
  "retrying",
  "carriedForward",
  "duplicate",
  "windowWarning",
  "error",
];

class MarketplaceImpl<D extends string> implements Marketplace<D> {
  // What record() reads comes first, so it shares a cache line with the object's header.
  private readonly acc: Accumulator;
  private closed = false;
  readonly store: UsageStore;
  readonly instanceId: string;
  readonly dryRun: boolean;
  readonly buyers: Buyers;
  private readonly o: ResolvedOptions;
  private readonly reporter: Reporter;
  private readonly clients: AwsClients | undefined;
  private readonly handlers = new Map<MarketplaceEventName, Set<(p: never) => void>>();
  private timers: NodeJS.Timeout[] = [];
  private checkpointChain: Promise<void> = Promise.resolve();
  private cycle: Promise<void> | undefined;
  /** Aborted by close(): no call starts any more and the one in flight is aborted. */
  private readonly stopping = new AbortController();
  private lastZeroHour: number;
  /** Final windows whose end-of-window flush ran (identity key + window end). */
  private readonly finalSweeps = new Set<string>();
  private readonly counters = { checkpoints: 0, checkpointErrors: 0, carriedForward: 0, lastCheckpointAt: 0 };

  constructor(options: ResolvedOptions) {
    this.o = options;
    this.store = options.store;
    this.instanceId = options.instanceId;
    this.dryRun = options.dryRun;
    this.acc = new Accumulator({
      dimensions: options.dimensions,
      productCodes: options.productCodes,
      clock: options.clock,
      maxFutureMs: options.maxFutureSkewMs,
    });
    let send: SendFn | undefined;
    // SDK clients open no connection until used; registration needs ResolveCustomer even in dry-run mode.
    this.clients = createAwsClients(options.aws);
    if (!options.dryRun) {
      const client = this.clients.metering;
      const deadline = callDeadlineOf(client);
      send = (input, signal) =>
        withDeadline(
          "BatchMeterUsage",
          deadline,
          (abortSignal) => client.send(new BatchMeterUsageCommand(input), { abortSignal }),
          signal,
        );
    }
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
    this.reporter = new Reporter({
      store: options.store,
      send,
      clock: options.clock,
      logger: options.logger,
      emit: this.emit,
      owner: options.instanceId,
      leaseMs: options.leaseMs,
      // Validated shorter than the lease, so a fresh claim can always make its call.
      leaseSafetyMs: callTimeoutMs(options.aws) + LEASE_MARGIN_MS,
      signal: this.stopping.signal,
      claimLimit: 100,
      backoff: options.retry,
      random: options.random,
      limiter: new RateLimiter({ callsPerSecond: options.callsPerSecond }),
      windowWarningMs: options.windowWarningMs,
      throttlePauseMs: 1000,
    });
    this.lastZeroHour = this.openFrom(options.clock()) - 2 * HOUR_MS;
    // AWS saying CustomerNotSubscribed is the freshest word on a buyer: access follows it at once.
    this.on("rejected", (e) => {
      if (e.code === "CUSTOMER_NOT_SUBSCRIBED") this.buyers.noteNotSubscribed(e.grain.identity);
    });
    if (options.autoStart) this.start();
  }

  /** Hours before this one are final (closed by the closer). */
  private openFrom(now: number): number {
    return hourStart(now - this.o.gracePeriodMs);
  }

  /**
   * Late usage for a final hour that has no grain yet may still start one (its hour has never been sent)
   * while AWS will accept that hour for a good while longer; older usage goes to the current hour.
   */
  private lateFrom(now: number): number {
    const margin = Math.min(23 * HOUR_MS, Math.max(4 * HOUR_MS, this.o.windowWarningMs + HOUR_MS));
    let h = hourStart(now - 24 * HOUR_MS);
    while (acceptanceDeadline(h) - now < margin) h += HOUR_MS;
    return Math.min(h, this.openFrom(now));
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
    return this.buyers.access(subject);
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
    if (this.timers.length > 0) return;
    const cp = setInterval(() => {
      this.acc.tick();
      this.checkpoint().catch(() => {});
    }, this.o.checkpointIntervalMs);
    const rp = setInterval(() => {
      if (!this.cycle) this.runCycle().catch(() => {});
    }, this.o.reportIntervalMs);
    cp.unref();
    rp.unref();
    this.timers = [cp, rp];
  }

  private stopTimers(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
  }

  checkpoint(): Promise<void> {
    const run = this.checkpointChain.then(() => this.doCheckpoint());
    this.checkpointChain = run.catch(() => {});
    return run;
  }

  private async doCheckpoint(): Promise<void> {
    if (this.acc.size === 0) return;
    const deltas = this.acc.drain();
    const now = this.o.clock();
    let result: Awaited<ReturnType<UsageStore["add"]>>;
    try {
      result = await this.store.add(deltas, { now, openFrom: this.lateFrom(now), carryTo: hourStart(now) });
    } catch (err) {
      // The add is atomic: nothing was written, so the sums go back into memory for the next try.
      this.acc.restore(deltas);
      this.counters.checkpointErrors++;
      const error = asError(
        "STORE_ERROR",
        "checkpoint to the store failed; usage is kept in memory and retried",
        err,
      );
      this.o.logger.error({ error: error.message, grains: deltas.length }, "marketmeter: checkpoint failed");
      this.emit("error", { error, phase: "checkpoint" });
      throw error;
    }
    this.counters.checkpoints++;
    this.counters.lastCheckpointAt = now;
    for (const c of result.carried) {
      this.counters.carriedForward++;
      const identity = identityFromKey(c.identityKey);
      this.o.logger.info(
        {
          dimension: c.dimension,
          from: new Date(c.fromHour).toISOString(),
          to: new Date(c.toHour).toISOString(),
          quantity: c.quantity,
          reason: c.reason,
        },
        "marketmeter: usage carried forward to a later hour",
      );
      this.emit("carriedForward", {
        identity,
        dimension: c.dimension,
        from: new Date(c.fromHour),
        to: new Date(c.toHour),
        quantity: c.quantity,
        reason: c.reason,
      });
    }
  }

  /**
   * A cancelling buyer keeps access in the final window; their usage of that window (carried past the
   * first final flush) is sent when access ends, just before AWS stops accepting it.
   */
  private async sweepFinalWindows(): Promise<void> {
    const now = this.o.clock();
    for (const { identity, finalWindowEndsAt } of this.buyers.finalWindowsClosing(now)) {
      const key = this.acc.resolveIdentity(identity).key;
      // Once per hour: usage carried past a final flush waits in the next hour, which can only be sent
      // once that hour has begun.
      const mark = `${key}@${finalWindowEndsAt}@${hourStart(now)}`;
      if (this.finalSweeps.has(mark)) continue;
      await this.store.closeGrains({ hourBefore: hourStart(now) + HOUR_MS, identityKey: key, now });
      await this.reporter.sendDue({ identityKey: key, urgent: true });
      this.finalSweeps.add(mark);
      if (this.finalSweeps.size > 100_000) this.finalSweeps.clear();
    }
  }

  /** Zero records for the hours that became final, then freezes every final pending grain. */
  private async closeDue(): Promise<void> {
    const now = this.o.clock();
    const openFrom = this.openFrom(now);
    const z = this.o.zeroRecords;
    if (z && this.lastZeroHour + HOUR_MS < openFrom) {
      const ids = typeof z.identities === "function" ? z.identities() : z.identities;
      const dims = z.dimensions ?? this.o.dimensions;
      const first = Math.max(this.lastZeroHour + HOUR_MS, openFrom - 24 * HOUR_MS);
      const deltas: UsageDelta[] = [];
      for (const input of ids) {
        let key: string;
        try {
          key = this.acc.resolveIdentity(input).key;
        } catch (err) {
          this.o.logger.warn({ error: String(err) }, "marketmeter: zeroRecords identity skipped");
          continue;
        }
        for (let h = first; h < openFrom; h += HOUR_MS)
          for (const d of dims)
            deltas.push({ identityKey: key, dimension: d, hour: h, quantity: 0, ensure: true });
      }
      if (deltas.length > 0) await this.store.add(deltas, { now, openFrom, carryTo: hourStart(now) });
      this.lastZeroHour = openFrom - HOUR_MS;
    }
    await this.store.closeGrains({ hourBefore: openFrom, now });
  }

  private runCycle(): Promise<void> {
    if (this.cycle) return this.cycle;
    const run = (async () => {
      try {
        await this.checkpoint();
        await this.sweepFinalWindows();
        await this.closeDue();
        await this.reporter.sendDue();
        await this.reporter.sweep();
      } catch (err) {
        if (
          !isMarketplaceError(err, "STORE_ERROR") ||
          !(err as MarketplaceError).message.startsWith("checkpoint")
        ) {
          const error = asError(
            "STORE_ERROR",
            "reporting cycle failed; it is retried on the next cycle",
            err,
          );
          this.o.logger.error({ error: error.message }, "marketmeter: reporting cycle failed");
          this.emit("error", { error, phase: "send" });
        }
        throw err;
      } finally {
        this.cycle = undefined;
      }
    })();
    this.cycle = run;
    return run;
  }

  async flush(options: { identity?: IdentityInput } = {}): Promise<void> {
    if (typeof options !== "object" || options === null)
      throw new MarketplaceError("INVALID_ARGUMENT", "flush() takes an optional { identity }");
    const target =
      options.identity === undefined ? undefined : this.acc.resolveIdentity(options.identity).key;
    if (this.cycle) await this.cycle.catch(() => {});
    if (target === undefined) {
      await this.runCycle();
      return;
    }
    const run = (async () => {
      try {
        await this.checkpoint();
        const now = this.o.clock();
        // Final metering: the buyer's open hour is frozen now; later usage moves to the next hour.
        await this.store.closeGrains({ hourBefore: hourStart(now) + HOUR_MS, identityKey: target, now });
        await this.reporter.sendDue({ identityKey: target, urgent: true });
      } finally {
        this.cycle = undefined;
      }
    })();
    this.cycle = run;
    await run;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stopTimers();
    this.acc.dispose();
    // Wall time, not the business clock: the budget is what the process has left before it is killed.
    const end = performance.now() + this.o.closeTimeoutMs;
    const left = () => Math.max(0, end - performance.now());
    // Abort a call still out a little before the end, so its grains are written back before the store closes.
    const reserve = Math.min(1000, Math.floor(this.o.closeTimeoutMs / 4));
    let failure: unknown;
    try {
      // Usage first: saving it never waits behind a running cycle's AWS call.
      await within(this.checkpoint(), left(), "saving usage to the store");
    } catch (err) {
      failure = err;
      // Last resort: the unsaved usage goes to the log, so an operator can still bill it.
      this.o.logger.error(
        { unsaved: this.acc.drain().map((d) => ({ ...d, hour: new Date(d.hour).toISOString() })) },
        "marketmeter: close() could not save usage to the store",
      );
    }
    let sending: Promise<void> | undefined;
    if (!failure) {
      sending = this.sendAtClose();
      try {
        await within(sending, left() - reserve, "sending what is due");
      } catch (err) {
        const error = asError("STORE_ERROR", "close() could not send everything due", err);
        this.o.logger.warn(
          { error: error.message },
          "marketmeter: close() left grains for the next start (a durable store keeps them)",
        );
        this.emit("error", { error, phase: "close" });
      }
    }
    // A call still out is aborted: its grains are written back as retrying (uncertain), or stay leased.
    this.stopping.abort();
    await within(
      Promise.allSettled([sending, this.cycle].filter((p) => p !== undefined)),
      left(),
      "stopping",
    ).catch(() => {});
    if (!failure && !this.store.durable) await this.reportLostAtClose().catch(() => {});
    try {
      await within(this.buyers.close(), left(), "closing the buyer lifecycle");
    } catch (err) {
      this.o.logger.warn({ error: String(err) }, "marketmeter: closing the buyer lifecycle failed");
    }
    try {
      await within(this.store.close(), Math.max(left(), 0), "closing the store");
    } finally {
      this.clients?.destroy();
    }
    if (failure) throw failure;
  }

  /** Closes the hours that are final (every open hour with a memory store) and sends what is due. */
  private async sendAtClose(): Promise<void> {
    const now = this.o.clock();
    if (!this.store.durable) {
      // Nothing survives this process: send every open hour now rather than lose it. A restart in
      // the same hour then meets DuplicateRecord for these grains (reported), which is the lesser loss.
      const n = await this.store.closeGrains({ hourBefore: Number.MAX_SAFE_INTEGER, now });
      if (n > 0)
        this.o.logger.warn(
          { grains: n },
          "marketmeter: memory store: open hours are sent at close(); use a durable store to keep them open across restarts",
        );
    }
    await this.closeDue();
    // A cycle already running keeps its claims; wait for it (its calls have deadlines) before sending.
    if (this.cycle) await this.cycle.catch(() => {});
    await this.reporter.sendDue();
  }

  private async reportLostAtClose(): Promise<void> {
    const left = await this.store.list({ states: ["pending", "closed", "retrying"] });
    if (left.length === 0) return;
    const error = new MarketplaceError(
      "CLOSED",
      `${left.length} grain(s) could not be sent before close() and are lost with the memory store`,
      { details: { grains: left.map(describe) } },
    );
    this.o.logger.error({ grains: left.map(describe) }, "marketmeter: unsent usage lost at close()");
    this.emit("error", { error, phase: "close" });
  }

  async report(query: ReportQuery = {}): Promise<GrainReport[]> {
    if (typeof query !== "object" || query === null)
      throw new MarketplaceError("INVALID_ARGUMENT", "report() takes { from?, to?, identity?, states? }");
    const identityKey =
      query.identity === undefined ? undefined : this.acc.resolveIdentity(query.identity).key;
    if (!this.closed) await this.checkpoint();
    const from = toMs(query.from, "from");
    const to = toMs(query.to, "to");
    const rows = await this.store.list({
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
    const g = await this.store.get(grainKey(key, query.dimension, hourStart(hour)));
    return g ? toReport(g) : undefined;
  }

  stats(): MarketplaceStats {
    const r = this.reporter.stats;
    return {
      records: this.acc.records,
      quantity: this.acc.quantity,
      inMemoryGrains: this.acc.size,
      checkpoints: this.counters.checkpoints,
      checkpointErrors: this.counters.checkpointErrors,
      lastCheckpointAt: this.counters.lastCheckpointAt ? new Date(this.counters.lastCheckpointAt) : undefined,
      carriedForward: this.counters.carriedForward,
      ...r,
    };
  }
}

function describe(g: StoredGrain) {
  return {
    identityKey: g.identityKey,
    dimension: g.dimension,
    hour: new Date(g.hour).toISOString(),
    quantity: g.quantity,
    state: g.state,
  };
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

function asError(code: "STORE_ERROR", message: string, cause: unknown): MarketplaceError {
  if (isMarketplaceError(cause)) return cause;
  return new MarketplaceError(code, `${message}: ${cause instanceof Error ? cause.message : String(cause)}`, {
    cause,
  });
}

/** Waits for `p` at most `ms` (what is left of close()'s budget); `p` itself is abandoned, not stopped. */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new MarketplaceError("CLOSED", `close(): ${what} did not finish within closeTimeoutMs`)),
      Math.max(0, ms),
    );
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
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
  // The HTTP layer's handlers default to this logger and these body limits (said once, here).
  const marketplace = new MarketplaceImpl<D[number]>(resolveOptions(options));
  return declareHttpSettings(marketplace, { logger: options.logger, buyers: options.buyers });
}
