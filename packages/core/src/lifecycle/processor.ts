import { randomBytes } from "node:crypto";
import { type CustomerRecord, type CustomerStatus, compact, type Directory } from "../directory/index.js";
import type { EntitlementCache } from "../entitlements/index.js";
import { isMarketplaceError, MarketplaceError } from "../errors/index.js";
import { type Identity, isValidAccountId, isValidLicenseArn, parseIdentity } from "../identity/index.js";
import type { Clock, Logger } from "../runtime/index.js";
import type { IgnoredNotification, LifecycleAction, LifecycleEvent } from "./events.js";

/** What handling one notification did. */
export interface LifecycleOutcome {
  /**
   * - `applied`: the directory changed (or the notification triggered a refresh / final metering);
   * - `unchanged`: understood, but nothing had to change (for example a second copy of a cancellation
   *   through the other channel);
   * - `stale`: older than what the directory already knows, so it did not overwrite it;
   * - `duplicate`: this event or message id was handled before;
   * - `ignored`: not for us (another product, an unknown agreement, an informational event);
   * - `confirmed` / `confirmation-required`: an SNS SubscriptionConfirmation.
   */
  outcome:
    | "applied"
    | "unchanged"
    | "stale"
    | "duplicate"
    | "ignored"
    | "confirmed"
    | "confirmation-required";
  action?: LifecycleAction;
  eventId?: string;
  /** The directory record after the change. */
  customer?: CustomerRecord;
  /** Why it was ignored (for logs). */
  reason?: string;
  /** SNS SubscriptionConfirmation when not confirmed automatically: visit it (or confirm in the AWS console). */
  subscribeUrl?: string;
  /** Suggested HTTP status of the webhook response. */
  httpStatus: 200;
}

export interface ProductInfo {
  contract: boolean;
}

export interface ProcessorOptions {
  products: ReadonlyMap<string, ProductInfo>;
  directory: Directory;
  entitlements: EntitlementCache | undefined;
  clock: Clock;
  logger: Logger;
  finalWindowMs: number;
  /** Events dated further than this ahead of `clock` are refused. */
  maxClockSkewMs: number;
  finalMetering: ((identity: Identity) => Promise<void>) | undefined;
  onLifecycleEvent: ((event: LifecycleEvent, outcome: LifecycleOutcome) => void | Promise<void>) | undefined;
}

// Within the same event time, lifecycle order decides (a cancellation and an activation stamped in the
// same second most likely happened in this order).
const RANK: Readonly<Record<CustomerStatus, number>> = {
  pending: 0,
  active: 1,
  failed: 1,
  "unsubscribe-pending": 2,
  cancelled: 3,
};

// Agreement end statuses that do not end the buyer's license: it continues under the new agreement.
const CONTINUING = new Set(["RENEWED", "REPLACED", "ACTIVE"]);

function targetStatus(event: LifecycleEvent): CustomerStatus | undefined {
  switch (event.action) {
    case "subscribe-success":
    case "license-updated":
      return "active";
    case "subscribe-fail":
      return "failed";
    case "unsubscribe-pending":
    case "license-deprovisioned":
      return "unsubscribe-pending";
    case "agreement-ended":
      return event.agreementStatus && CONTINUING.has(event.agreementStatus)
        ? undefined
        : "unsubscribe-pending";
    case "unsubscribe-success":
      return "cancelled";
    default:
      return undefined;
  }
}

/**
 * Applies lifecycle notifications to the customer directory: idempotent (a seen-set of ids in the store,
 * written once an event was applied),
 * order-tolerant (event time decides), and with the side effects AWS asks for (final metering at once on
 * cancellation, entitlement refresh on contract changes).
 */
export class LifecycleProcessor {
  readonly #o: ProcessorOptions;
  readonly #finalRuns = new Map<string, Promise<void>>();
  readonly #inFlight = new Map<string, Promise<LifecycleOutcome>>();

  constructor(options: ProcessorOptions) {
    this.#o = options;
  }

  async process(parsed: LifecycleEvent | IgnoredNotification): Promise<LifecycleOutcome> {
    const o = this.#o;
    await o.directory.ready();
    if ("ignored" in parsed) {
      o.logger.debug({ eventId: parsed.id, reason: parsed.ignored }, "lifecycle notification ignored");
      return compact({
        outcome: "ignored" as const,
        eventId: parsed.id,
        reason: parsed.ignored,
        httpStatus: 200 as const,
      });
    }
    const event = parsed;
    if (event.productCode !== undefined && !o.products.has(event.productCode)) {
      o.logger.debug(
        { eventId: event.id, productCode: event.productCode },
        "notification for another product",
      );
      return this.#done(event, { outcome: "ignored", reason: "product is not configured" });
    }
    if (event.time - o.clock() > o.maxClockSkewMs) {
      // A future date would make every real event after it "stale" until that date: refuse it.
      o.logger.warn(
        { eventId: event.id, action: event.action, time: event.time },
        "lifecycle notification dated in the future; refused",
      );
      throw new MarketplaceError(
        "INVALID_NOTIFICATION",
        "notification is dated in the future (more than the allowed clock skew)",
        { details: { httpStatus: 400, reason: "future" } },
      );
    }
    // One delivery of an id at a time in this process: a concurrent copy waits and is then a duplicate.
    for (let running = this.#inFlight.get(event.id); running; running = this.#inFlight.get(event.id))
      await running.catch(() => {});
    const run = this.#handle(event);
    this.#inFlight.set(event.id, run);
    try {
      return await run;
    } finally {
      if (this.#inFlight.get(event.id) === run) this.#inFlight.delete(event.id);
    }
  }

  async #handle(event: LifecycleEvent): Promise<LifecycleOutcome> {
    const o = this.#o;
    const store = o.directory.store;
    let seen = false;
    try {
      if (store.hasSeenEvent) seen = await store.hasSeenEvent(event.id);
    } catch (cause) {
      o.logger.error(
        { err: cause, eventId: event.id, action: event.action },
        "reading the seen-set failed; the notification is refused so AWS sends it again",
      );
      throw storeError(cause);
    }
    const duplicate = (): LifecycleOutcome => {
      o.logger.debug({ eventId: event.id, action: event.action }, "notification seen before; ignored");
      return { outcome: "duplicate", action: event.action, eventId: event.id, httpStatus: 200 };
    };
    if (seen) return duplicate();
    let outcome: LifecycleOutcome;
    try {
      outcome = await this.#apply(event);
    } catch (err) {
      // Not marked seen: AWS's redelivery applies it.
      o.logger.error(
        { err, eventId: event.id, action: event.action },
        "applying a lifecycle notification failed; it is refused so AWS sends it again",
      );
      throw isMarketplaceError(err) ? err : storeError(err);
    }
    // Marked only once applied, so a failure above never turns a redelivery into a "duplicate".
    let fresh = true;
    try {
      fresh = await store.markEventSeen(event.id, o.clock());
    } catch (err) {
      o.logger.error(
        { err, eventId: event.id, action: event.action },
        "a lifecycle notification was applied but could not be marked as seen; a redelivery changes nothing",
      );
    }
    // Another process (or a store without hasSeenEvent) handled this id already: applying again changed
    // nothing, and its hooks ran there.
    if (!fresh) return duplicate();
    o.logger.info(
      {
        eventId: event.id,
        action: event.action,
        outcome: outcome.outcome,
        customerId: outcome.customer?.id,
        status: outcome.customer?.status,
      },
      "lifecycle notification handled",
    );
    if (o.onLifecycleEvent) {
      try {
        await o.onLifecycleEvent(event, outcome);
      } catch (err) {
        o.logger.error(
          { err, eventId: event.id },
          "onLifecycleEvent threw; the notification still counts as handled",
        );
      }
    }
    return outcome;
  }

  #done(
    event: LifecycleEvent,
    o: Omit<LifecycleOutcome, "httpStatus" | "eventId" | "action">,
  ): LifecycleOutcome {
    return compact({ ...o, action: event.action, eventId: event.id, httpStatus: 200 as const });
  }

  #find(event: LifecycleEvent): CustomerRecord | undefined {
    const dir = this.#o.directory;
    let r: CustomerRecord | undefined;
    if (event.licenseArn) r = dir.findByLicense(event.licenseArn);
    if (!r && event.customerIdentifier && event.productCode)
      r = dir.findByCustomerIdentifier(event.productCode, event.customerIdentifier);
    // Agreement events name no license: the agreement id (learned from License Updated) is the link.
    if (!r && event.agreementId && event.action.startsWith("agreement-"))
      r = dir.findByAgreement(event.agreementId);
    if (r && event.productCode !== undefined && r.productCode !== event.productCode) return undefined;
    return r;
  }

  #identityOf(event: LifecycleEvent): Identity | undefined {
    if (!event.productCode) return undefined;
    try {
      if (event.channel === "sns")
        return event.customerIdentifier
          ? parseIdentity({ productCode: event.productCode, customerIdentifier: event.customerIdentifier })
          : undefined;
      if (
        event.licenseArn &&
        isValidLicenseArn(event.licenseArn) &&
        event.customerAWSAccountId &&
        isValidAccountId(event.customerAWSAccountId)
      )
        return parseIdentity({
          productCode: event.productCode,
          customerAWSAccountId: event.customerAWSAccountId,
          licenseArn: event.licenseArn,
        });
    } catch {
      return undefined;
    }
    return undefined;
  }

  async #apply(event: LifecycleEvent): Promise<LifecycleOutcome> {
    const o = this.#o;
    const now = o.clock();
    const target = targetStatus(event);
    let record = this.#find(event);
    if (!record && target) {
      // Another instance may have created the buyer since this one last read the store.
      await o.directory.refresh();
      record = this.#find(event);
    }
    // A failed earlier attempt may have left the cache ahead of the store: write it before deciding.
    if (record) await o.directory.resave(record.id);

    if (event.channel === "sns" && !event.customerIdentifier)
      // Concurrent Agreements buyers have no customer identifier; their lifecycle comes through EventBridge.
      return this.#done(event, { outcome: "ignored", reason: "SNS message without customer-identifier" });

    if (!record) {
      const identity = target ? this.#identityOf(event) : undefined;
      if (!target || !identity)
        return this.#done(event, {
          outcome: "ignored",
          reason: event.agreementId && !event.licenseArn ? "unknown agreement" : "unknown buyer",
        });
      // The event came before the buyer registered: remember it, so registration finds the real state.
      record = compact({
        id: `cus_${randomBytes(12).toString("base64url")}`,
        productCode: identity.productCode,
        identity,
        customerIdentifier: event.customerIdentifier,
        customerAWSAccountId: event.customerAWSAccountId,
        licenseArn: event.licenseArn,
        status: target,
        statusAt: event.time,
        agreementId: event.agreementId,
        offerId: event.offerId,
        freeTrial: event.freeTrial,
        finalWindowEndsAt: target === "unsubscribe-pending" ? event.time + o.finalWindowMs : undefined,
        createdAt: now,
        updatedAt: now,
      }) as CustomerRecord;
      await o.directory.save(record);
      return this.#effects(event, undefined, record);
    }

    if (!target) {
      // Informational or entitlement-only events.
      if (event.action === "entitlement-updated" || event.action === "agreement-amended") {
        const refreshed = await this.#refreshEntitlements(record, true);
        return this.#done(event, {
          outcome: refreshed ? "applied" : "unchanged",
          customer: this.#current(record),
        });
      }
      return this.#done(event, { outcome: "unchanged", customer: record });
    }

    const newer =
      event.time > record.statusAt || (event.time === record.statusAt && RANK[target] >= RANK[record.status]);
    if (!newer) {
      o.logger.debug(
        { eventId: event.id, customerId: record.id, status: record.status, target },
        "notification older than the directory state; not applied",
      );
      return this.#done(event, { outcome: "stale", customer: record });
    }
    const before = record;
    if (target === "unsubscribe-pending" && before.status === "cancelled") {
      // A late cancellation notice (the other channel, or License Deprovisioned after the window) must
      // not reopen a final window that has already closed; only an activation revives a cancelled buyer.
      return this.#done(event, { outcome: "unchanged", customer: before });
    }
    if (before.status === target && target !== "active") {
      // A second copy of the same transition (other channel, or the Proposer and Manufacturer twins):
      // keep the first window, but retry the final metering if it has not completed.
      if (target === "unsubscribe-pending" && before.finalMeteringAt === undefined) {
        await this.#finalMetering(before);
        return this.#done(event, { outcome: "applied", customer: this.#current(before) });
      }
      return this.#done(event, { outcome: "unchanged", customer: before });
    }
    const next: CustomerRecord = compact({
      ...before,
      status: target,
      statusAt: event.time,
      customerAWSAccountId: before.customerAWSAccountId ?? event.customerAWSAccountId,
      licenseArn: before.licenseArn ?? event.licenseArn,
      agreementId:
        event.action === "license-updated" ? (event.agreementId ?? before.agreementId) : before.agreementId,
      offerId: event.offerId ?? before.offerId,
      freeTrial: event.freeTrial ?? before.freeTrial,
      finalWindowEndsAt:
        target === "unsubscribe-pending" ? event.time + o.finalWindowMs : before.finalWindowEndsAt,
      // A (re-)activation starts a new subscription period: re-arm final metering and forget rejections.
      finalMeteringAt: target === "active" ? undefined : before.finalMeteringAt,
      notSubscribedAt: target === "active" ? undefined : before.notSubscribedAt,
      updatedAt: now,
    });
    if (target === "active") delete (next as { finalWindowEndsAt?: number }).finalWindowEndsAt;
    await o.directory.save(next);
    return this.#effects(event, before, next);
  }

  async #effects(
    event: LifecycleEvent,
    before: CustomerRecord | undefined,
    after: CustomerRecord,
  ): Promise<LifecycleOutcome> {
    if (after.status === "unsubscribe-pending" && before?.status !== "unsubscribe-pending")
      await this.#finalMetering(after);
    if (after.status === "active") await this.#refreshEntitlements(after, false);
    return this.#done(event, { outcome: "applied", customer: this.#current(after) });
  }

  #current(r: CustomerRecord): CustomerRecord {
    return this.#o.directory.get(r.id) ?? r;
  }

  /** Runs the final-metering hook once per cancellation; a failure leaves it armed for the next event. */
  #finalMetering(record: CustomerRecord): Promise<void> {
    const o = this.#o;
    if (!o.finalMetering || record.finalMeteringAt !== undefined) return Promise.resolve();
    let run = this.#finalRuns.get(record.id);
    if (run) return run;
    const hook = o.finalMetering;
    run = (async () => {
      try {
        await hook(record.identity);
      } catch (err) {
        o.logger.error(
          { err, customerId: record.id },
          "final metering failed; it is retried on the next cancellation notice",
        );
        return;
      }
      const latest = o.directory.get(record.id);
      if (latest && latest.status !== "active")
        await o.directory.save({ ...latest, finalMeteringAt: o.clock(), updatedAt: o.clock() });
    })().finally(() => this.#finalRuns.delete(record.id));
    this.#finalRuns.set(record.id, run);
    return run;
  }

  /** Refreshes entitlements of contract buyers; failures are logged and leave the snapshot marked stale. */
  async #refreshEntitlements(record: CustomerRecord, changed: boolean): Promise<boolean> {
    const o = this.#o;
    const contract = o.products.get(record.productCode)?.contract === true;
    if (!o.entitlements || (!contract && !record.entitlements)) return false;
    try {
      if (changed) await o.entitlements.invalidate(record.identity);
      await o.entitlements.refresh(record.identity);
      return true;
    } catch (err) {
      o.logger.warn(
        { err, customerId: record.id },
        "refreshing entitlements failed; access uses the last known ones",
      );
      return false;
    }
  }

  /** Resolves when running final-metering hooks finished. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.#finalRuns.values()]);
  }
}

function storeError(cause: unknown): MarketplaceError {
  return new MarketplaceError(
    "STORE_ERROR",
    "the directory store failed while handling a notification; it will be retried",
    {
      cause,
      details: { httpStatus: 503 },
    },
  );
}
