/**
 * The usage pipeline: the one owner of the usage store. It moves in-memory sums into the store
 * (checkpoint), freezes final hours (close), and has the reporter claim, send and settle them, with the
 * sender it is given (AWS or dry-run). The marketplace facade only forwards to it.
 */
import { randomUUID } from "node:crypto";
import { isMarketplaceError, MarketplaceError } from "../errors/index.js";
import { type Identity, type IdentityInput, identityFromKey } from "../identity/index.js";
import { type Emit, RateLimiter, Reporter, type ReporterStats, type UsageSender } from "../reporter/index.js";
import { type Clock, HOUR_MS, hourStart, type Logger } from "../runtime/index.js";
import type { ListQuery, StoredGrain, UsageDelta, UsageStore } from "../stores/index.js";
import { type Accumulator, acceptanceDeadline } from "../usage/index.js";

/** Zero records for identities with no usage (resolved `zeroRecords` option). */
export interface PipelineZeroRecords {
  identities: readonly IdentityInput[] | (() => readonly IdentityInput[]);
  dimensions?: readonly string[];
}

export interface UsagePipelineOptions {
  /** Where `record()` adds usage; the pipeline drains it. */
  accumulator: Accumulator;
  store: UsageStore;
  /** BatchMeterUsage to AWS, or the dry-run sender. */
  sender: UsageSender;
  emit: Emit;
  clock: Clock;
  logger: Logger;
  /** Lease owner name of this instance. */
  owner: string;
  dimensions: readonly string[];
  gracePeriodMs: number;
  checkpointIntervalMs: number;
  reportIntervalMs: number;
  callsPerSecond: number;
  retry: { baseDelayMs: number; maxDelayMs: number };
  leaseMs: number;
  /** Start no call when less than this is left of the lease. */
  leaseSafetyMs: number;
  windowWarningMs: number;
  zeroRecords: PipelineZeroRecords | undefined;
  random: () => number;
  /**
   * Most grains recorded in memory since the last checkpoint; a batch the store has not taken yet (at
   * most as many) is held besides, so usage of its grains keeps counting during an outage.
   */
  maxBufferedGrains: number;
  /** The shared send-token bucket (account and Region) when the store paces calls for every instance. */
  sendBucket: string;
  /** When AWS stops accepting a record of this hour (MeterUsage: 6 h). @default BatchMeterUsage's */
  acceptanceDeadline?: (timestamp: number) => number;
  /** Buyers in their final window (cancelled, access ending), whose usage must go out before it ends. */
  finalWindowsClosing(now: number): Iterable<{ identity: Identity; finalWindowEndsAt: number }>;
}

/** Counters of the pipeline since start: the reporter's and the checkpoint's. */
export interface PipelineStats extends ReporterStats {
  /** This process start's checkpoint writer id (random): the store applies each of its batches once. */
  instance: string;
  /** Grains held in memory: recorded since the last checkpoint, plus a batch the store has not taken. */
  bufferedGrains: number;
  checkpoints: number;
  checkpointErrors: number;
  lastCheckpointAt: number;
  carriedForward: number;
}

export class UsagePipeline {
  readonly #o: UsagePipelineOptions;
  readonly #acc: Accumulator;
  readonly #store: UsageStore;
  readonly #reporter: Reporter;
  #timers: NodeJS.Timeout[] = [];
  #checkpointChain: Promise<void> = Promise.resolve();
  #cycle: Promise<void> | undefined;
  /** Aborted at close: no call starts any more and the one in flight is aborted. */
  readonly #stopping = new AbortController();
  #lastZeroHour: number;
  /** Final windows whose end-of-window flush ran (identity key + window end). */
  readonly #finalSweeps = new Set<string>();
  readonly #counters = { checkpoints: 0, checkpointErrors: 0, carriedForward: 0, lastCheckpointAt: 0 };
  /** Checkpoint writer id of this process start: a restart is a new writer, so seqs never collide. */
  readonly #instance = randomUUID();
  #seq = 0;
  /** A batch the store has not confirmed: retried as is (same seq, same deltas) before any new one. */
  #batch: { seq: number; deltas: UsageDelta[] } | undefined;
  /** Consecutive failed checkpoints, and timer ticks to skip before the next try (back-off). */
  #failures = 0;
  #skipTicks = 0;

  constructor(options: UsagePipelineOptions) {
    this.#o = options;
    this.#acc = options.accumulator;
    this.#store = options.store;
    this.#reporter = new Reporter({
      store: options.store,
      sender: options.sender,
      clock: options.clock,
      logger: options.logger,
      emit: options.emit,
      owner: options.owner,
      leaseMs: options.leaseMs,
      leaseSafetyMs: options.leaseSafetyMs,
      signal: this.#stopping.signal,
      claimLimit: 100,
      backoff: options.retry,
      random: options.random,
      limiter: new RateLimiter({ callsPerSecond: options.callsPerSecond }),
      sendBucket: options.sendBucket,
      callsPerSecond: options.callsPerSecond,
      windowWarningMs: options.windowWarningMs,
      throttlePauseMs: 1000,
      ...(options.acceptanceDeadline ? { acceptanceDeadline: options.acceptanceDeadline } : {}),
    });
    this.#lastZeroHour = this.#openFrom(options.clock()) - 2 * HOUR_MS;
    this.#acc.cellLimit = options.maxBufferedGrains;
    // Inside record(): only schedule the report, so the request never waits on a log or a handler.
    this.#acc.onOverflow = (buffered) =>
      queueMicrotask(() => {
        const bufferedGrains = buffered + (this.#batch?.deltas.length ?? 0);
        this.#o.logger.error(
          { maxBufferedGrains: options.maxBufferedGrains, bufferedGrains },
          "marketmeter: in-memory usage reached maxBufferedGrains; usage for new grains is refused until the store takes a checkpoint",
        );
        this.#o.emit("overflow", { maxBufferedGrains: options.maxBufferedGrains, bufferedGrains });
      });
  }

  /** Hours before this one are final (closed by the closer). */
  #openFrom(now: number): number {
    return hourStart(now - this.#o.gracePeriodMs);
  }

  /**
   * Late usage for a final hour that has no grain yet may still start one (its hour has never been sent)
   * while AWS will accept that hour for a good while longer; older usage goes to the current hour.
   */
  #lateFrom(now: number): number {
    const margin = Math.min(23 * HOUR_MS, Math.max(4 * HOUR_MS, this.#o.windowWarningMs + HOUR_MS));
    let h = hourStart(now - 24 * HOUR_MS);
    const deadline = this.#o.acceptanceDeadline ?? acceptanceDeadline;
    while (deadline(h) - now < margin && h < now) h += HOUR_MS;
    return Math.min(h, this.#openFrom(now));
  }

  /** Starts the checkpoint and reporting timers (idempotent). */
  start(): void {
    if (this.#timers.length > 0) return;
    const cp = setInterval(() => {
      this.#acc.tick();
      if (this.#skipTicks > 0) {
        this.#skipTicks--;
        return;
      }
      this.checkpoint().catch(() => {});
    }, this.#o.checkpointIntervalMs);
    const rp = setInterval(() => {
      if (!this.#cycle) this.#runCycle().catch(() => {});
    }, this.#o.reportIntervalMs);
    cp.unref();
    rp.unref();
    this.#timers = [cp, rp];
  }

  #stopTimers(): void {
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
  }

  /** Writes in-memory sums to the store; checkpoints run one after the other. */
  checkpoint(): Promise<void> {
    const run = this.#checkpointChain.then(() => this.#doCheckpoint());
    this.#checkpointChain = run.catch(() => {});
    return run;
  }

  async #doCheckpoint(): Promise<void> {
    // A batch whose answer was lost goes again, identical, before new usage is drained: the store
    // applies each (instance, seq) once, so a write that did commit is not counted twice.
    if (this.#batch) await this.#write(this.#batch);
    if (this.#acc.size === 0) return;
    this.#batch = { seq: ++this.#seq, deltas: this.#acc.drain() };
    await this.#write(this.#batch);
  }

  async #write(batch: { seq: number; deltas: UsageDelta[] }): Promise<void> {
    const now = this.#o.clock();
    let result: Awaited<ReturnType<UsageStore["add"]>>;
    try {
      result = await this.#store.add(batch.deltas, {
        now,
        openFrom: this.#lateFrom(now),
        carryTo: hourStart(now),
        checkpoint: { instance: this.#instance, seq: batch.seq },
      });
    } catch (err) {
      this.#counters.checkpointErrors++;
      this.#failures++;
      // flush() and close() still try at once; only the timer backs off.
      this.#skipTicks = checkpointBackoffTicks(this.#failures, this.#o.checkpointIntervalMs);
      const error = asError(
        "STORE_ERROR",
        "checkpoint to the store failed; usage is kept in memory and retried",
        err,
      );
      this.#o.logger.error(
        { error: error.message, grains: batch.deltas.length, failures: this.#failures },
        "marketmeter: checkpoint failed",
      );
      this.#o.emit("error", { error, phase: "checkpoint" });
      throw error;
    }
    this.#batch = undefined;
    this.#failures = 0;
    this.#skipTicks = 0;
    this.#acc.endOverflow();
    if (result.duplicate) {
      this.#o.logger.info(
        { seq: batch.seq },
        "marketmeter: checkpoint had already been written (its answer was lost); not counted twice",
      );
      return;
    }
    this.#counters.checkpoints++;
    this.#counters.lastCheckpointAt = now;
    for (const c of result.carried) {
      this.#counters.carriedForward++;
      const identity = identityFromKey(c.identityKey);
      this.#o.logger.info(
        {
          dimension: c.dimension,
          from: new Date(c.fromHour).toISOString(),
          to: new Date(c.toHour).toISOString(),
          quantity: c.quantity,
          reason: c.reason,
        },
        "marketmeter: usage carried forward to a later hour",
      );
      this.#o.emit("carriedForward", {
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
  async #sweepFinalWindows(): Promise<void> {
    const now = this.#o.clock();
    for (const { identity, finalWindowEndsAt } of this.#o.finalWindowsClosing(now)) {
      const key = this.#acc.resolveIdentity(identity).key;
      // Once per hour: usage carried past a final flush waits in the next hour, which can only be sent
      // once that hour has begun.
      const mark = `${key}@${finalWindowEndsAt}@${hourStart(now)}`;
      if (this.#finalSweeps.has(mark)) continue;
      await this.#store.closeGrains({ hourBefore: hourStart(now) + HOUR_MS, identityKey: key, now });
      await this.#reporter.sendDue({ identityKey: key, urgent: true });
      this.#finalSweeps.add(mark);
      if (this.#finalSweeps.size > 100_000) this.#finalSweeps.clear();
    }
  }

  /** Zero records for the hours that became final, then freezes every final pending grain. */
  async #closeDue(): Promise<void> {
    const now = this.#o.clock();
    const openFrom = this.#openFrom(now);
    const z = this.#o.zeroRecords;
    if (z && this.#lastZeroHour + HOUR_MS < openFrom) {
      const ids = typeof z.identities === "function" ? z.identities() : z.identities;
      const dims = z.dimensions ?? this.#o.dimensions;
      const first = Math.max(this.#lastZeroHour + HOUR_MS, openFrom - 24 * HOUR_MS);
      const deltas: UsageDelta[] = [];
      for (const input of ids) {
        let key: string;
        try {
          key = this.#acc.resolveIdentity(input).key;
        } catch (err) {
          this.#o.logger.warn({ error: String(err) }, "marketmeter: zeroRecords identity skipped");
          continue;
        }
        for (let h = first; h < openFrom; h += HOUR_MS)
          for (const d of dims)
            deltas.push({ identityKey: key, dimension: d, hour: h, quantity: 0, ensure: true });
      }
      if (deltas.length > 0) await this.#store.add(deltas, { now, openFrom, carryTo: hourStart(now) });
      this.#lastZeroHour = openFrom - HOUR_MS;
    }
    await this.#store.closeGrains({ hourBefore: openFrom, now });
  }

  /** checkpoint -> final windows -> close -> claim, send, settle -> window warnings; one at a time. */
  #runCycle(ignoreBackoff = false): Promise<void> {
    if (this.#cycle) return this.#cycle;
    const run = (async () => {
      try {
        await this.checkpoint();
        await this.#sweepFinalWindows();
        await this.#closeDue();
        await this.#reporter.sendDue(ignoreBackoff ? { urgent: true } : {});
        await this.#reporter.sweep();
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
          this.#o.logger.error({ error: error.message }, "marketmeter: reporting cycle failed");
          this.#o.emit("error", { error, phase: "send" });
        }
        throw err;
      } finally {
        this.#cycle = undefined;
      }
    })();
    this.#cycle = run;
    return run;
  }

  /**
   * Runs a cycle now. With `identityKey`: final metering for that buyer, whose open hour is frozen now
   * and sent at once; their later usage of that hour moves to the next hour.
   */
  async flush(identityKey?: string, options: { ignoreBackoff?: boolean } = {}): Promise<void> {
    if (this.#cycle) await this.#cycle.catch(() => {});
    if (identityKey === undefined) {
      await this.#runCycle(options.ignoreBackoff === true);
      return;
    }
    const run = (async () => {
      try {
        await this.checkpoint();
        const now = this.#o.clock();
        await this.#store.closeGrains({ hourBefore: hourStart(now) + HOUR_MS, identityKey, now });
        await this.#reporter.sendDue({ identityKey, urgent: true });
      } finally {
        this.#cycle = undefined;
      }
    })();
    this.#cycle = run;
    await run;
  }

  /**
   * Stops the timers, saves in-memory usage, sends what is due within `left()` less a reserve, aborts a
   * call still out, then runs `beforeStoreClose` and closes the store. Throws when usage could not be saved.
   */
  async close(left: () => number, reserve: number, beforeStoreClose: () => Promise<void>): Promise<void> {
    this.#stopTimers();
    this.#acc.dispose();
    let failure: unknown;
    try {
      // Usage first: saving it never waits behind a running cycle's AWS call.
      await within(this.checkpoint(), left(), "saving usage to the store");
    } catch (err) {
      failure = err;
      // Last resort: the unsaved usage goes to the log, so an operator can still bill it.
      const unsaved = [...(this.#batch?.deltas ?? []), ...this.#acc.drain()];
      this.#o.logger.error(
        { unsaved: unsaved.map((d) => ({ ...d, hour: new Date(d.hour).toISOString() })) },
        "marketmeter: close() could not save usage to the store",
      );
    }
    let sending: Promise<void> | undefined;
    if (!failure) {
      sending = this.#sendAtClose();
      try {
        await within(sending, left() - reserve, "sending what is due");
      } catch (err) {
        const error = asError("STORE_ERROR", "close() could not send everything due", err);
        this.#o.logger.warn(
          { error: error.message },
          "marketmeter: close() left grains for the next start (a durable store keeps them)",
        );
        this.#o.emit("error", { error, phase: "close" });
      }
    }
    // A call still out is aborted: its grains are written back as retrying (uncertain), or stay leased.
    this.#stopping.abort();
    await within(
      Promise.allSettled([sending, this.#cycle].filter((p) => p !== undefined)),
      left(),
      "stopping",
    ).catch(() => {});
    if (!failure && !this.#store.durable) await this.#reportLostAtClose().catch(() => {});
    await beforeStoreClose();
    await within(this.#store.close(), Math.max(left(), 0), "closing the store");
    if (failure) throw failure;
  }

  /** Closes the hours that are final (every open hour with a memory store) and sends what is due. */
  async #sendAtClose(): Promise<void> {
    const now = this.#o.clock();
    if (!this.#store.durable) {
      // Nothing survives this process: send every open hour now rather than lose it. A restart in
      // the same hour then meets DuplicateRecord for these grains (reported), which is the lesser loss.
      const n = await this.#store.closeGrains({ hourBefore: Number.MAX_SAFE_INTEGER, now });
      if (n > 0)
        this.#o.logger.warn(
          { grains: n },
          "marketmeter: memory store: open hours are sent at close(); use a durable store to keep them open across restarts",
        );
    }
    await this.#closeDue();
    // A cycle already running keeps its claims; wait for it (its calls have deadlines) before sending.
    if (this.#cycle) await this.#cycle.catch(() => {});
    await this.#reporter.sendDue();
  }

  async #reportLostAtClose(): Promise<void> {
    const left = await this.#store.list({ states: ["pending", "closed", "retrying"] });
    if (left.length === 0) return;
    const error = new MarketplaceError(
      "CLOSED",
      `${left.length} grain(s) could not be sent before close() and are lost with the memory store`,
      { details: { grains: left.map(describe) } },
    );
    this.#o.logger.error({ grains: left.map(describe) }, "marketmeter: unsent usage lost at close()");
    this.#o.emit("error", { error, phase: "close" });
  }

  /** Stored grains, for audits. */
  list(query: ListQuery): Promise<StoredGrain[]> {
    return this.#store.list(query);
  }

  /** One stored grain, for audits. */
  get(key: string): Promise<StoredGrain | undefined> {
    return this.#store.get(key);
  }

  stats(): PipelineStats {
    return {
      ...this.#counters,
      ...this.#reporter.stats,
      instance: this.#instance,
      bufferedGrains: this.#acc.size + (this.#batch?.deltas.length ?? 0),
    };
  }
}

/**
 * Timer ticks the checkpoint skips after `failures` consecutive failures: 0, 1, 3, 7, … (exponential),
 * so a store that is down is asked about every 30 s at most rather than every interval.
 */
export function checkpointBackoffTicks(failures: number, intervalMs: number): number {
  const cap = Math.max(1, Math.ceil(30_000 / intervalMs));
  return Math.min(2 ** Math.min(Math.max(failures, 1) - 1, 20) - 1, cap);
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

function asError(code: "STORE_ERROR", message: string, cause: unknown): MarketplaceError {
  if (isMarketplaceError(cause)) return cause;
  return new MarketplaceError(code, `${message}: ${cause instanceof Error ? cause.message : String(cause)}`, {
    cause,
  });
}

/** Waits for `p` at most `ms` (what is left of close()'s budget); `p` itself is abandoned, not stopped. */
export async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
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
