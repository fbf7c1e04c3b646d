import { createHash, randomUUID } from "node:crypto";
import type { LifecycleAction, LifecycleNotification } from "../types.js";
import { NotifierError } from "./errors.js";

/** The AWS Marketplace event source on the seller's default bus. */
export const EVENT_SOURCE = "aws.agreement-marketplace";
/** AWS Marketplace only publishes its events to us-east-1. */
export const EVENT_REGION = "us-east-1";

/**
 * How `license.arn` is written in License events.
 * - `full`: the License Manager ARN as `ResolveCustomer` returns it (`arn:aws:license-manager::…`).
 * - `docExample`: without the `arn:` prefix, as the AWS documentation's sample event shows it; use this to
 *   prove a consumer correlates on the `l-…` license id rather than on string equality.
 */
export type EventLicenseArnFormat = "full" | "docExample";

/** One EventBridge event as a rule target (API destination) receives it. */
export interface MarketplaceEvent {
  version: "0";
  id: string;
  "detail-type": string;
  source: typeof EVENT_SOURCE;
  account: string;
  time: string;
  region: typeof EVENT_REGION;
  resources: string[];
  detail: MarketplaceEventDetail;
}

export interface MarketplaceEventDetail {
  requestId: string;
  agreement: {
    id: string;
    intent?: string;
    status?: string;
    acceptanceTime?: string;
    startTime?: string;
    endTime?: string;
  };
  acceptor: { accountId: string };
  proposer: { accountId: string };
  offer: { id: string };
  product?: { code: string; id: string };
  license?: { arn: string };
}

const DETAIL_TYPES: Partial<Record<LifecycleAction, readonly string[]>> = {
  // An ISV selling directly is both the proposer and the manufacturer, so it receives both events.
  "agreement-created": ["Purchase Agreement Created - Proposer", "Purchase Agreement Created - Manufacturer"],
  "agreement-amended": ["Purchase Agreement Amended - Proposer", "Purchase Agreement Amended - Manufacturer"],
  "agreement-ended": ["Purchase Agreement Ended - Proposer", "Purchase Agreement Ended - Manufacturer"],
  "license-updated": ["License Updated - Manufacturer"],
  "license-deprovisioned": ["License Deprovisioned - Manufacturer"],
};

/**
 * The EventBridge detail types AWS sends for a lifecycle action, in delivery order. Legacy SNS actions
 * (`subscribe-success`, …, `entitlement-updated`) have none: they only exist on the SNS topics.
 *
 * @example
 * eventBridgeDetailTypes("agreement-created")
 * // ["Purchase Agreement Created - Proposer", "Purchase Agreement Created - Manufacturer"]
 */
export function eventBridgeDetailTypes(action: LifecycleAction): readonly string[] {
  return DETAIL_TYPES[action] ?? [];
}

/** EventBridge writes times to the second (`2026-07-15T10:30:00Z`). */
export function eventTime(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, "Z");
}

function shortHash(value: string): string {
  return createHash("sha256").update(value).digest("hex").slice(0, 13);
}

/** A stable `prod-…` id for a product code when the fixture gives none. */
export function derivedProductId(productCode: string): string {
  return `prod-${shortHash(`product:${productCode}`)}`;
}

/** A stable `offer-…` id for an agreement when the fixture gives none. */
export function derivedOfferId(agreementId: string): string {
  return `offer-${shortHash(`offer:${agreementId}`)}`;
}

export function formatLicenseArn(arn: string, format: EventLicenseArnFormat): string {
  return format === "docExample" && arn.startsWith("arn:") ? arn.slice(4) : arn;
}

function requireString(value: unknown, field: string, action: string): string {
  if (typeof value !== "string" || value.length === 0) {
    throw new NotifierError("INVALID_NOTIFICATION", `${action} notification needs a non-empty ${field}`);
  }
  return value;
}

function optionalDate(value: unknown, field: string): Date | undefined {
  if (value === undefined) return undefined;
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) {
    throw new NotifierError("INVALID_NOTIFICATION", `${field} must be a valid Date`);
  }
  return value;
}

const ONE_YEAR_MS = 365 * 24 * 3600 * 1000;

export interface BuildEventsOptions {
  sellerAccountId: string;
  licenseArnFormat: EventLicenseArnFormat;
}

/**
 * Builds the EventBridge events AWS Marketplace would publish for `n` (none for legacy SNS actions).
 * Missing optional fields get documented defaults: intent NEW (AMEND for amendments), status ACTIVE
 * (CANCELLED when ended), acceptance and start at `n.time`, end one year after start, and stable
 * derived product and offer ids.
 *
 * @example
 * const [proposer, manufacturer] = buildEventBridgeEvents(
 *   { action: "agreement-created", productCode: "pca…", customerAWSAccountId: "123456789012",
 *     agreementId: "agmt-1", time: new Date() },
 *   { sellerAccountId: "111122223333", licenseArnFormat: "full" },
 * );
 */
export function buildEventBridgeEvents(
  n: LifecycleNotification,
  options: BuildEventsOptions,
): MarketplaceEvent[] {
  const detailTypes = eventBridgeDetailTypes(n.action);
  if (detailTypes.length === 0) return [];
  const action = n.action;
  const agreementId = requireString(n.agreementId, "agreementId", action);
  const acceptor = requireString(n.customerAWSAccountId, "customerAWSAccountId", action);
  const productCode = requireString(n.productCode, "productCode", action);
  const offer = { id: n.offerId ?? derivedOfferId(agreementId) };
  const requestId = randomUUID();

  let agreement: MarketplaceEventDetail["agreement"];
  if (action === "agreement-created" || action === "agreement-amended") {
    const acceptanceTime = optionalDate(n.acceptanceTime, "acceptanceTime") ?? n.time;
    const startTime = optionalDate(n.startTime, "startTime") ?? acceptanceTime;
    const endTime = optionalDate(n.endTime, "endTime") ?? new Date(startTime.getTime() + ONE_YEAR_MS);
    agreement = {
      id: agreementId,
      intent: n.agreementIntent ?? (action === "agreement-amended" ? "AMEND" : "NEW"),
      status: n.agreementStatus ?? "ACTIVE",
      acceptanceTime: eventTime(acceptanceTime),
      startTime: eventTime(startTime),
      endTime: eventTime(endTime),
    };
  } else if (action === "agreement-ended") {
    agreement = { id: agreementId, status: n.agreementStatus ?? "CANCELLED" };
  } else {
    agreement = { id: agreementId };
  }

  const detail: MarketplaceEventDetail = {
    requestId,
    agreement,
    acceptor: { accountId: acceptor },
    proposer: { accountId: options.sellerAccountId },
    offer,
  };
  if (action === "license-updated" || action === "license-deprovisioned") {
    // License events are the metering signal under Concurrent Agreements, so they name the license.
    const arn = requireString(n.licenseArn, "licenseArn", action);
    detail.product = { code: productCode, id: n.productId ?? derivedProductId(productCode) };
    detail.license = { arn: formatLicenseArn(arn, options.licenseArnFormat) };
  }

  return detailTypes.map((detailType) => ({
    version: "0",
    id: randomUUID(),
    "detail-type": detailType,
    source: EVENT_SOURCE,
    account: options.sellerAccountId,
    time: eventTime(n.time),
    region: EVENT_REGION,
    resources: [],
    detail: structuredClone(detail),
  }));
}
