/**
 * The reporter: claims closed grains under a lease, sends them with BatchMeterUsage at a paced rate,
 * and writes every outcome back to the store. It owns retrying (the SDK is configured with few or no
 * retries), so every retry is durable: the next attempt time lives in the store and survives restarts.
 */
import type { UsageRecordResult } from "@aws-sdk/client-marketplace-metering";
import { MarketplaceError } from "../errors/index.js";
import type { Clock, Logger } from "../runtime/index.js";
import type { GrainLease, GrainOutcome, StoredGrain, UsageStore } from "../stores/index.js";
import { parseGrainKey } from "../stores/index.js";
import { acceptanceDeadline, isAcceptable } from "../usage/index.js";
import { type BackoffOptions, backoffDelay } from "./backoff.js";
import {
  type Batch,
  buildBatches,
  type PreparedRecord,
  prepareRecord,
  recordKey,
  requestOf,
} from "./batch.js";
import { classifyError, errorMessage, errorName } from "./classify.js";
import type { Emit, GrainInfo } from "./events.js";
import { type RateLimiter, sleepUnlessAborted } from "./limiter.js";
import type { SendResult, UsageSender } from "./sender.js";

/** What the seller should check for a grain whose fate AWS never told us. */
export const UNCERTAIN_CHECK =
  "check the AWS Marketplace seller reports (billed usage, or the Seller Data Delivery Service feed) for this customer, dimension and hour";
const UNCERTAIN_REASON = `an attempt's answer was lost and AWS's acceptance window has passed, so AWS may or may not have billed this usage: ${UNCERTAIN_CHECK}`;

export interface ReporterOptions {
  store: UsageStore;
  /** Sends one BatchMeterUsage call: to AWS, or nowhere in dry-run mode. */
  sender: UsageSender;
  clock: Clock;
  logger: Logger;
  emit: Emit;
  /** Lease owner name of this instance. */
  owner: string;
  leaseMs: number;
  /** Start no call when less than this is left of the lease (the worst-case call plus a margin). */
  leaseSafetyMs: number;
  /** Aborted at shutdown: no new call starts, and the call in flight is aborted. */
  signal?: AbortSignal;
  claimLimit: number;
  backoff: Required<BackoffOptions>;
  random: () => number;
  limiter: RateLimiter;
  /** The store's token bucket shared by every instance (account and Region), when the store has one. */
  sendBucket: string;
  callsPerSecond: number;
  windowWarningMs: number;
  throttlePauseMs: number;
}

/** Counters of the reporter since start. */
export interface ReporterStats {
  calls: number;
  throttled: number;
  callErrors: number;
  sent: number;
  rejected: number;
  expired: number;
  /** Grains that passed AWS's window after an attempt whose answer was lost (state `uncertain`). */
  uncertain: number;
  retries: number;
  duplicates: number;
  windowWarnings: number;
  /** Outcomes not written because this instance no longer held the grain's lease. */
  fenced: number;
}

export function grainInfo(g: StoredGrain, identity = prepareRecord(g).identity): GrainInfo {
  return { identity, dimension: g.dimension, hour: new Date(g.hour), quantity: g.quantity };
}

export class Reporter {
  readonly stats: ReporterStats = {
    calls: 0,
    throttled: 0,
    callErrors: 0,
    sent: 0,
    rejected: 0,
    expired: 0,
    uncertain: 0,
    retries: 0,
    duplicates: 0,
    windowWarnings: 0,
    fenced: 0,
  };
  readonly #warned = new Set<string>();

  readonly #o: ReporterOptions;

  constructor(o: ReporterOptions) {
    this.#o = o;
  }

  /**
   * Sends every grain that is due. With `identityKey`, only that buyer's grains; with `urgent`, retrying
   * grains are sent without waiting for their back-off (final metering).
   */
  async sendDue(options: { identityKey?: string; urgent?: boolean } = {}): Promise<void> {
    const { store, owner } = this.#o;
    const attempted = new Set<string>();
    for (;;) {
      if (this.#o.signal?.aborted) return;
      const now = this.#o.clock();
      const claimed = await store.claim({
        owner,
        now,
        leaseMs: this.#o.leaseMs,
        limit: this.#o.claimLimit,
        ...(options.identityKey !== undefined ? { identityKey: options.identityKey } : {}),
        ...(options.urgent ? { ignoreBackoff: true } : {}),
      });
      if (claimed.length === 0) return;
      const fresh: StoredGrain[] = [];
      const again: StoredGrain[] = [];
      for (const g of claimed) {
        if (attempted.has(g.key)) again.push(g);
        else fresh.push(g);
      }
      if (again.length > 0) await store.release(again.map(leaseOf), owner);
      if (fresh.length === 0) return;
      for (const g of fresh) attempted.add(g.key);

      // Window guard: a grain AWS can no longer accept is expired instead of sent.
      const expired: StoredGrain[] = [];
      const live: PreparedRecord[] = [];
      for (const g of fresh) {
        if (!isAcceptable(g.hour, now)) expired.push(g);
        else live.push(prepareRecord(g));
      }
      if (expired.length > 0) await this.#expire(expired, now, "outside the AWS acceptance window");
      for (const r of live)
        if (r.foldedAllocations > 0)
          this.#o.logger.warn(
            {
              dimension: r.grain.dimension,
              hour: new Date(r.grain.hour).toISOString(),
              folded: r.foldedAllocations,
            },
            "marketmeter: tag allocations beyond AWS limits were merged into the untagged share",
          );
      for (const batch of buildBatches(live)) await this.#sendRecords(batch, batch.records);
    }
  }

  /**
   * Writes outcomes and reports the ones the store refused (this instance no longer holds the lease):
   * their results are dropped, never announced as if written. Returns the keys written.
   */
  async #settle(outcomes: GrainOutcome[], now: number): Promise<Set<string>> {
    const result = await this.#o.store.settle(outcomes, { owner: this.#o.owner, now });
    const refused = new Set(result.refused);
    if (refused.size > 0) {
      this.stats.fenced += refused.size;
      this.#o.logger.warn(
        {
          grains: outcomes
            .filter((o) => refused.has(o.key))
            .map((o) => ({ ...describeKey(o.key), outcome: o.state })),
        },
        "marketmeter: outcome not written: this instance no longer holds the grain's lease (it ran out or another sender took over); the next claim treats the grain as uncertain",
      );
    }
    return new Set(outcomes.map((o) => o.key).filter((k) => !refused.has(k)));
  }

  /** Past AWS's window: `expired` when AWS never had it, `uncertain` when an answer was lost. */
  async #expire(grains: StoredGrain[], now: number, reason: string): Promise<void> {
    const written = await this.#settle(
      grains.map((g) =>
        g.uncertain
          ? { key: g.key, leaseToken: g.leaseToken, state: "uncertain" as const, reason: UNCERTAIN_REASON }
          : { key: g.key, leaseToken: g.leaseToken, state: "expired" as const, reason },
      ),
      now,
    );
    for (const g of grains) {
      if (!written.has(g.key)) continue;
      const info = grainInfo(g);
      const log = { dimension: g.dimension, hour: info.hour.toISOString(), quantity: g.quantity };
      if (g.uncertain) {
        this.stats.uncertain++;
        this.#o.logger.error(
          { ...log, productCode: info.identity.productCode, state: "uncertain", lastError: g.lastError },
          `marketmeter: usage may have been billed by AWS or not (an attempt's answer was lost and the acceptance window has passed); ${UNCERTAIN_CHECK}`,
        );
        this.#o.emit("uncertain", { grain: info, reason: UNCERTAIN_REASON, check: UNCERTAIN_CHECK });
      } else {
        this.stats.expired++;
        this.#o.logger.error(
          { ...log, state: "expired", reason },
          "marketmeter: usage can no longer be reported to AWS (24 h window or month-end cut-off passed)",
        );
        this.#o.emit("expired", { grain: info, reason });
      }
    }
  }

  /**
   * With a store that paces every instance: waits for a token of the shared bucket (the local limiter
   * already spaced this instance's calls). A store error only leaves the local pacing in force.
   */
  async #globalToken(): Promise<void> {
    const { store, signal } = this.#o;
    if (!store.takeSendToken) return;
    // Half of AWS's own bucket: the other half absorbs calls that arrive closer together than they left.
    const burst = Math.max(1, Math.floor(this.#o.callsPerSecond / 2));
    for (;;) {
      let wait: number;
      try {
        wait = await store.takeSendToken(this.#o.sendBucket, {
          ratePerSecond: this.#o.callsPerSecond,
          burst,
        });
      } catch (err) {
        this.#o.logger.warn(
          { error: err instanceof Error ? err.message : String(err) },
          "marketmeter: shared send pacing unavailable; pacing this instance only",
        );
        return;
      }
      if (wait <= 0 || signal?.aborted) return;
      await sleepUnlessAborted(Math.min(wait, 1000), signal);
    }
  }

  /** Gives grains back unattempted; a call must not outlive the lease or start during shutdown. */
  async #keepOrRelease(records: PreparedRecord[]): Promise<boolean> {
    const leaseLeft = Math.min(...records.map((r) => r.grain.leaseUntil ?? 0)) - this.#o.clock();
    if (leaseLeft >= this.#o.leaseSafetyMs && !this.#o.signal?.aborted) return true;
    await this.#o.store.release(
      records.map((r) => leaseOf(r.grain)),
      this.#o.owner,
    );
    return false;
  }

  /** One call (or, after a request-level validation error, a bisection into smaller calls). */
  async #sendRecords(batch: Batch, records: PreparedRecord[]): Promise<void> {
    const { logger } = this.#o;
    const { sender } = this.#o;
    const dryRun = sender.dryRun;
    let out: SendResult;
    const input = requestOf({ ...batch, records });
    try {
      // Only real calls are paced, fenced by the lease and counted.
      if (!dryRun) {
        await this.#o.limiter.acquire();
        await this.#globalToken();
        if (!(await this.#keepOrRelease(records))) return;
        this.stats.calls++;
      }
      out = await sender.send(input, this.#o.signal);
    } catch (err) {
      this.stats.callErrors++;
      const kind = classifyError(err);
      const name = errorName(err);
      const message = `${name}: ${errorMessage(err)}`.slice(0, 500);
      logger.warn(
        { error: name, kind, records: records.length, productCode: batch.productCode },
        "marketmeter: BatchMeterUsage call failed",
      );
      if ((kind === "invalid" || kind === "timestamp") && records.length > 1) {
        // Isolate the poison record: halves are sent separately, the good ones get through.
        const mid = Math.ceil(records.length / 2);
        await this.#sendRecords(batch, records.slice(0, mid));
        await this.#sendRecords(batch, records.slice(mid));
        return;
      }
      const now = this.#o.clock();
      if (kind === "invalid" || kind === "product") {
        await this.#rejectAll(records, () => ({ state: "rejected", reason: message }), now);
        return;
      }
      if (kind === "timestamp") {
        await this.#expire(
          records.map((r) => r.grain),
          now,
          message,
        );
        return;
      }
      if (kind === "throttle") {
        this.stats.throttled++;
        this.#o.limiter.pause(this.#o.throttlePauseMs);
      }
      if (kind === "config")
        this.#o.emit("error", {
          error: new MarketplaceError(
            "AWS_REJECTED",
            `AWS refused the call (${message}); check credentials, permissions and Region`,
            {
              cause: err,
            },
          ),
          phase: "send",
        });
      await this.#retry(records, message, kind === "transient", now);
      return;
    }
    await this.#settleResults(records, out, dryRun);
  }

  async #settleResults(records: PreparedRecord[], out: SendResult, dryRun: boolean): Promise<void> {
    const byKey = new Map(records.map((r) => [recordKey(r.record), r]));
    const verdicts = new Map<PreparedRecord, UsageRecordResult>();
    for (const res of out.Results ?? []) {
      const r = res.UsageRecord ? byKey.get(recordKey(res.UsageRecord)) : undefined;
      if (r) verdicts.set(r, res);
      else
        this.#o.logger.warn(
          { status: res.Status },
          "marketmeter: AWS returned a result for a record we did not send",
        );
    }
    const unprocessed = new Set<PreparedRecord>();
    for (const u of out.UnprocessedRecords ?? []) {
      const r = byKey.get(recordKey(u));
      if (r && !verdicts.has(r)) unprocessed.add(r);
    }
    const now = this.#o.clock();
    const retryUnprocessed: PreparedRecord[] = [];
    const retryUnknown: PreparedRecord[] = [];
    const outcomes: GrainOutcome[] = [];
    const after: Array<() => void> = [];
    for (const r of records) {
      const v = verdicts.get(r);
      const g = r.grain;
      if (!v) {
        (unprocessed.has(r) ? retryUnprocessed : retryUnknown).push(r);
        continue;
      }
      const info = grainInfo(g, r.identity);
      if (v.Status === "Success") {
        outcomes.push({
          key: g.key,
          leaseToken: g.leaseToken,
          state: "sent",
          ...(v.MeteringRecordId ? { meteringRecordId: v.MeteringRecordId } : {}),
          ...(dryRun ? { reason: "dry-run" } : {}),
        });
        after.push(() => {
          if (!written.has(g.key)) return;
          this.stats.sent++;
          this.#o.emit("sent", { grain: info, meteringRecordId: v.MeteringRecordId, dryRun });
        });
      } else if (v.Status === "CustomerNotSubscribed") {
        outcomes.push({
          key: g.key,
          leaseToken: g.leaseToken,
          state: "rejected",
          reason: "CustomerNotSubscribed",
        });
        after.push(() => {
          if (!written.has(g.key)) return;
          this.stats.rejected++;
          this.#o.logger.warn(
            {
              dimension: g.dimension,
              hour: info.hour.toISOString(),
              quantity: g.quantity,
              productCode: info.identity.productCode,
            },
            "marketmeter: AWS answered CustomerNotSubscribed; the usage is not billed",
          );
          this.#o.emit("rejected", {
            grain: info,
            reason: "CustomerNotSubscribed",
            code: "CUSTOMER_NOT_SUBSCRIBED",
          });
        });
      } else if (v.Status === "DuplicateRecord") {
        // We never send two quantities for one grain, so after an attempt whose answer we did not see,
        // the record AWS already holds is our own: the usage is billed.
        const own = g.uncertain;
        outcomes.push(
          own
            ? {
                key: g.key,
                leaseToken: g.leaseToken,
                state: "sent",
                reason: "DuplicateRecord: our own earlier attempt was recorded",
              }
            : { key: g.key, leaseToken: g.leaseToken, state: "rejected", reason: "DuplicateRecord" },
        );
        after.push(() => {
          if (!written.has(g.key)) return;
          this.stats.duplicates++;
          if (own) this.stats.sent++;
          else this.stats.rejected++;
          this.#o.logger.warn(
            {
              dimension: g.dimension,
              hour: info.hour.toISOString(),
              quantity: g.quantity,
              ownEarlierWrite: own,
            },
            own
              ? "marketmeter: DuplicateRecord after an unconfirmed attempt; counting our earlier write as billed"
              : "marketmeter: DuplicateRecord: another record was already billed for this grain; this quantity is not billed",
          );
          this.#o.emit("duplicate", {
            grain: info,
            quantity: g.quantity,
            billedQuantity: own ? g.quantity : undefined,
            ownEarlierWrite: own,
          });
          if (!own)
            this.#o.emit("rejected", { grain: info, reason: "DuplicateRecord", code: "DUPLICATE_RECORD" });
        });
      } else {
        this.#o.logger.error({ status: v.Status }, "marketmeter: unknown result status; will retry");
        retryUnknown.push(r);
      }
    }
    const written = outcomes.length > 0 ? await this.#settle(outcomes, now) : new Set<string>();
    for (const f of after) f();
    if (retryUnprocessed.length > 0) await this.#retry(retryUnprocessed, "UnprocessedRecords", false, now);
    if (retryUnknown.length > 0)
      await this.#retry(retryUnknown, "no result returned for the record", true, now);
  }

  async #rejectAll(
    records: PreparedRecord[],
    verdict: () => { state: "rejected"; reason: string },
    now: number,
  ): Promise<void> {
    const v = verdict();
    const written = await this.#settle(
      records.map((r) => ({
        key: r.grain.key,
        leaseToken: r.grain.leaseToken,
        state: v.state,
        reason: v.reason,
      })),
      now,
    );
    for (const r of records) {
      if (!written.has(r.grain.key)) continue;
      const info = grainInfo(r.grain, r.identity);
      this.#o.logger.error(
        {
          dimension: r.grain.dimension,
          hour: info.hour.toISOString(),
          quantity: r.grain.quantity,
          reason: v.reason,
        },
        `marketmeter: usage ${v.state} by AWS`,
      );
      this.stats.rejected++;
      this.#o.emit("rejected", { grain: info, reason: v.reason, code: "AWS_REJECTED" });
    }
  }

  async #retry(records: PreparedRecord[], error: string, uncertain: boolean, now: number): Promise<void> {
    let first = Number.POSITIVE_INFINITY;
    let attempt = 0;
    const outcomes: GrainOutcome[] = records.map((r) => {
      const g = r.grain;
      const delay = backoffDelay(g.attempts, this.#o.backoff, this.#o.random);
      // Never schedule past the window: the last attempt happens while AWS still accepts the hour.
      const lastChance = acceptanceDeadline(g.hour) - 30_000;
      const nextAttemptAt = Math.max(now + 1, Math.min(now + delay, lastChance));
      first = Math.min(first, nextAttemptAt);
      attempt = Math.max(attempt, g.attempts + 1);
      return { key: g.key, leaseToken: g.leaseToken, state: "retrying", nextAttemptAt, error, uncertain };
    });
    const written = await this.#settle(outcomes, now);
    const retried = records.filter((r) => written.has(r.grain.key));
    if (retried.length === 0) return;
    this.stats.retries += retried.length;
    this.#o.emit("retrying", {
      grains: retried.map((r) => grainInfo(r.grain, r.identity)),
      attempt,
      nextAttemptAt: new Date(first),
      error,
    });
  }

  /** Warns about unsent grains close to the end of their acceptance window. */
  async sweep(): Promise<void> {
    const now = this.#o.clock();
    const open = await this.#o.store.list({ states: ["pending", "closed", "retrying"], limit: 5000 });
    for (const g of open) {
      const deadline = acceptanceDeadline(g.hour);
      const remainingMs = deadline - now;
      if (remainingMs > this.#o.windowWarningMs || remainingMs <= 0 || this.#warned.has(g.key)) continue;
      this.#warned.add(g.key);
      this.stats.windowWarnings++;
      const info = grainInfo(g);
      this.#o.logger.warn(
        {
          dimension: g.dimension,
          hour: info.hour.toISOString(),
          quantity: g.quantity,
          state: g.state,
          deadline: new Date(deadline).toISOString(),
        },
        "marketmeter: usage not yet accepted by AWS is close to the end of its acceptance window",
      );
      this.#o.emit("windowWarning", {
        grain: info,
        deadline: new Date(deadline),
        remainingMs,
        state: g.state,
      });
    }
    if (this.#warned.size > 100_000) this.#warned.clear();
  }
}

function leaseOf(g: StoredGrain): GrainLease {
  return { key: g.key, leaseToken: g.leaseToken };
}

function describeKey(key: string): { dimension: string; hour: string } {
  const { dimension, hour } = parseGrainKey(key);
  return { dimension, hour: new Date(hour).toISOString() };
}
