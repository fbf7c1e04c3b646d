import type { CustomerRecord, Entitlement } from "../directory/index.js";
import { activeEntitlements } from "../entitlements/index.js";
import type { Identity } from "../identity/index.js";

/** Why access was refused. */
export type AccessDenialReason =
  /** No directory record: the caller never registered through the fulfillment URL (or is unknown). */
  | "not-registered"
  /** Registered, but AWS has not confirmed the subscription yet (no subscribe-success / License Updated). */
  | "pending"
  /** The subscription or license ended (or the final window after unsubscribe-pending closed). */
  | "cancelled"
  /** A contract product without a current entitlement. */
  | "no-entitlement"
  /** Metering reported `CustomerNotSubscribed` for this buyer after its last activation. */
  | "not-subscribed"
  /** `subscribe-fail`: AWS could not set up the subscription (for example payment). */
  | "failed"
  /** The directory has not finished loading from its store yet. */
  | "unavailable";

/** Suggested HTTP status per denial: 402 when paying would fix it, 403 otherwise, 503 while loading. */
export const DENIAL_HTTP_STATUS: Readonly<Record<AccessDenialReason, 402 | 403 | 503>> = {
  "not-registered": 403,
  pending: 403,
  cancelled: 402,
  "no-entitlement": 402,
  "not-subscribed": 402,
  failed: 402,
  unavailable: 503,
};

const MESSAGES: Readonly<Record<AccessDenialReason, string>> = {
  "not-registered": "No AWS Marketplace subscription is registered for this account.",
  pending: "Your AWS Marketplace subscription is being set up; try again in a few minutes.",
  cancelled: "Your AWS Marketplace subscription has ended.",
  "no-entitlement": "Your AWS Marketplace contract does not include this product right now.",
  "not-subscribed": "AWS Marketplace reports that this account is not subscribed.",
  failed: "Your AWS Marketplace subscription could not be completed; check your payment details in AWS.",
  unavailable: "Subscription status is not available yet; please retry.",
};

export interface AccessAllowed {
  allowed: true;
  customer: CustomerRecord;
  identity: Identity;
  tenantId: string | undefined;
  /**
   * True between unsubscribe-pending (or License Deprovisioned / Agreement Ended) and the end of the final
   * window: access is still allowed, because AWS still bills usage in that window, but the buyer is leaving.
   */
  finalWindow: boolean;
  freeTrial: boolean;
  /** Active entitlements of a contract product (undefined for usage-only products). */
  entitlements: readonly Entitlement[] | undefined;
}

export interface AccessDenied {
  allowed: false;
  reason: AccessDenialReason;
  /** Suggested HTTP status for adapters (402 or 403; 503 while the directory loads). */
  httpStatus: 402 | 403 | 503;
  /** A sentence the buyer can act on. */
  message: string;
  customer: CustomerRecord | undefined;
}

export type AccessDecision = AccessAllowed | AccessDenied;

export interface DecideOptions {
  now: number;
  /**
   * Access in the final window ends this long before AWS stops accepting usage, so the last usage can
   * still be sent (the end-of-window flush runs at that moment). @default 0
   */
  finalWindowLeadMs?: number;
  /** The product sells contracts: an active entitlement is required. */
  contract: boolean;
  /** Allow contract buyers whose entitlements were never fetched (fail open). */
  allowUnknownEntitlements: boolean;
}

export function deny(reason: AccessDenialReason, customer?: CustomerRecord): AccessDenied {
  return {
    allowed: false,
    reason,
    httpStatus: DENIAL_HTTP_STATUS[reason],
    message: MESSAGES[reason],
    customer,
  };
}

/**
 * The access rule for one directory record. Pure and synchronous: it reads only the record.
 */
export function decideAccess(record: CustomerRecord | undefined, options: DecideOptions): AccessDecision {
  if (!record) return deny("not-registered");
  const { now } = options;
  let finalWindow = false;
  switch (record.status) {
    case "pending":
      return deny("pending", record);
    case "failed":
      return deny("failed", record);
    case "cancelled":
      return deny("cancelled", record);
    case "unsubscribe-pending":
      if (
        record.finalWindowEndsAt === undefined ||
        now >= record.finalWindowEndsAt - (options.finalWindowLeadMs ?? 0)
      )
        return deny("cancelled", record);
      finalWindow = true;
      break;
    case "active":
      break;
  }
  // A rejection reported after the last activation wins; an activation after it clears it.
  if (record.notSubscribedAt !== undefined && record.notSubscribedAt >= record.statusAt)
    return deny("not-subscribed", record);
  let entitlements: Entitlement[] | undefined;
  if (options.contract) {
    const snapshot = record.entitlements;
    if (!snapshot) {
      if (!options.allowUnknownEntitlements) return deny("no-entitlement", record);
    } else {
      entitlements = activeEntitlements(snapshot.items, now);
      if (entitlements.length === 0) return deny("no-entitlement", record);
    }
  }
  return {
    allowed: true,
    customer: record,
    identity: record.identity,
    tenantId: record.tenantId,
    finalWindow,
    freeTrial: record.freeTrial === true,
    entitlements,
  };
}
