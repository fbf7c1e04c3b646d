import { createHash } from "node:crypto";
import { MarketplaceError } from "../errors/index.js";
import type { SnsEnvelope } from "../sns/index.js";

/** Every lifecycle notification, from either channel, in one vocabulary. */
export type LifecycleAction =
  // legacy SNS
  | "subscribe-success"
  | "subscribe-fail"
  | "unsubscribe-pending"
  | "unsubscribe-success"
  | "entitlement-updated"
  // EventBridge
  | "agreement-created"
  | "agreement-amended"
  | "agreement-ended"
  | "license-updated"
  | "license-deprovisioned";

/** A notification after parsing, whichever channel it came from. */
export interface LifecycleEvent {
  /** `eventbridge:<event id>` or `sns:<MessageId>`: the key of the seen-set. */
  id: string;
  channel: "eventbridge" | "sns";
  action: LifecycleAction;
  /** When AWS says it happened (EventBridge `time`, SNS `Timestamp`), epoch ms. */
  time: number;
  /** EventBridge `detail-type`, SNS topic ARN. */
  kind: string;
  productCode?: string;
  customerIdentifier?: string;
  customerAWSAccountId?: string;
  /** Normalized to start with `arn:` (the documented event example leaves it out). */
  licenseArn?: string;
  agreementId?: string;
  /** `Purchase Agreement …` events: ACTIVE, CANCELLED, EXPIRED, RENEWED, REPLACED, … */
  agreementStatus?: string;
  offerId?: string;
  freeTrial?: boolean;
}

/** A well-formed notification that this library has nothing to do with. */
export interface IgnoredNotification {
  ignored: string;
  id?: string;
}

export const EVENT_SOURCE = "aws.agreement-marketplace";

const DETAIL_TYPES: ReadonlyArray<[RegExp, LifecycleAction]> = [
  [/^Purchase Agreement Created - (?:Proposer|Manufacturer)$/, "agreement-created"],
  [/^Purchase Agreement Amended - (?:Proposer|Manufacturer)$/, "agreement-amended"],
  [/^Purchase Agreement Ended - (?:Proposer|Manufacturer)$/, "agreement-ended"],
  [/^License Updated - Manufacturer$/, "license-updated"],
  [/^License Deprovisioned - Manufacturer$/, "license-deprovisioned"],
];

const SNS_ACTIONS: ReadonlySet<string> = new Set([
  "subscribe-success",
  "subscribe-fail",
  "unsubscribe-pending",
  "unsubscribe-success",
  "entitlement-updated",
]);

function invalid(message: string): never {
  throw new MarketplaceError("INVALID_NOTIFICATION", message, { details: { httpStatus: 400 } });
}

const isObj = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

function str(v: unknown, max = 2048): string | undefined {
  return typeof v === "string" && v !== "" && v.length <= max ? v : undefined;
}

/** License ARNs in the published event example lack `arn:`; ResolveCustomer returns the full ARN. */
export function normalizeLicenseArn(arn: string): string {
  return arn.startsWith("aws:") || arn.startsWith("aws-") ? `arn:${arn}` : arn;
}

/**
 * Reads an EventBridge event (as a rule target receives it). Returns the event, or `{ ignored }` for
 * well-formed events that are not AWS Marketplace agreement/license events. Throws
 * `INVALID_NOTIFICATION` when it is not an event at all.
 *
 * @example
 * parseEventBridgeEvent({ "detail-type": "License Updated - Manufacturer", source: "aws.agreement-marketplace", … })
 */
export function parseEventBridgeEvent(value: unknown, now: number): LifecycleEvent | IgnoredNotification {
  if (!isObj(value)) invalid("an EventBridge event must be a JSON object");
  const detailType = value["detail-type"];
  const source = value.source;
  if (typeof detailType !== "string" || typeof source !== "string")
    invalid("an EventBridge event needs string `detail-type` and `source`");
  const rawId = str(value.id, 256);
  const id = `eventbridge:${rawId ?? createHash("sha256").update(JSON.stringify(value)).digest("hex")}`;
  if (source !== EVENT_SOURCE)
    return { ignored: `event source ${source.slice(0, 64)} is not ${EVENT_SOURCE}`, id };
  const action = DETAIL_TYPES.find(([re]) => re.test(detailType))?.[1];
  if (!action) return { ignored: `detail-type ${detailType.slice(0, 80)} is not handled`, id };
  const detail = value.detail;
  if (!isObj(detail)) invalid(`${detailType} event has no detail object`);
  const parsedTime = typeof value.time === "string" ? Date.parse(value.time) : Number.NaN;
  const agreement = isObj(detail.agreement) ? detail.agreement : {};
  const product = isObj(detail.product) ? detail.product : {};
  const license = isObj(detail.license) ? detail.license : {};
  const acceptor = isObj(detail.acceptor) ? detail.acceptor : {};
  const offer = isObj(detail.offer) ? detail.offer : {};
  const event: LifecycleEvent = {
    id,
    channel: "eventbridge",
    action,
    time: Number.isFinite(parsedTime) ? parsedTime : now,
    kind: detailType,
  };
  const set = <K extends keyof LifecycleEvent>(k: K, v: LifecycleEvent[K] | undefined) => {
    if (v !== undefined) event[k] = v;
  };
  set("productCode", str(product.code, 255));
  set("customerAWSAccountId", str(acceptor.accountId, 32));
  const arn = str(license.arn);
  set("licenseArn", arn === undefined ? undefined : normalizeLicenseArn(arn));
  set("agreementId", str(agreement.id, 256));
  set("agreementStatus", str(agreement.status, 64)?.toUpperCase());
  set("offerId", str(offer.id, 256));
  if (
    (action === "license-updated" || action === "license-deprovisioned") &&
    (!event.licenseArn || !event.productCode)
  )
    invalid(`${detailType} event needs detail.license.arn and detail.product.code`);
  if (action.startsWith("agreement-") && !event.agreementId)
    invalid(`${detailType} event needs detail.agreement.id`);
  return event;
}

/**
 * Reads the `Message` of a verified SNS Notification from an AWS Marketplace topic.
 */
export function parseSnsNotification(envelope: SnsEnvelope): LifecycleEvent | IgnoredNotification {
  const id = `sns:${envelope.MessageId}`;
  let message: unknown;
  try {
    message = JSON.parse(envelope.Message);
  } catch {
    invalid("SNS Message is not JSON");
  }
  if (!isObj(message)) invalid("SNS Message must be a JSON object");
  const action = message.action;
  if (typeof action !== "string") invalid("SNS Message has no action");
  if (!SNS_ACTIONS.has(action)) return { ignored: `SNS action ${action.slice(0, 40)} is not handled`, id };
  const time = Date.parse(envelope.Timestamp);
  const event: LifecycleEvent = {
    id,
    channel: "sns",
    action: action as LifecycleAction,
    time,
    kind: envelope.TopicArn,
  };
  const productCode = str(message["product-code"], 255);
  if (!productCode) invalid("SNS Message has no product-code");
  event.productCode = productCode;
  const customer = str(message["customer-identifier"], 255);
  if (customer) event.customerIdentifier = customer;
  const offer = str(message["offer-identifier"], 256);
  if (offer) event.offerId = offer;
  const trial = message.isFreeTrialTermPresent;
  if (trial === true || trial === "true") event.freeTrial = true;
  return event;
}
