/**
 * Lifecycle notifier: turns emulator lifecycle changes into the messages AWS Marketplace sends a seller —
 * EventBridge events (delivered as an API destination would POST them) and legacy SNS HTTP notifications
 * (signed, with the subscription confirmation handshake). Deliveries only ever go to loopback URLs.
 */
import { randomBytes, randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { LifecycleAction, LifecycleNotification, WebhookConfig } from "../types.js";
import {
  assertLoopbackUrl,
  type DeliveryAttempt,
  type DeliveryPolicy,
  deliver,
  type ResolvedDeliveryPolicy,
  resolveDeliveryPolicy,
} from "./delivery.js";
import { NotifierError } from "./errors.js";
import { buildEventBridgeEvents, type EventLicenseArnFormat, type MarketplaceEvent } from "./eventbridge.js";
import {
  CERT_FILE,
  createSnsSigner,
  formatSnsJson,
  legacyMessage,
  marketplaceTopicArn,
  type SnsEnvelope,
  type SnsSignatureVersion,
  type SnsSigner,
  type SnsTopicKind,
  snsTopicKind,
} from "./sns.js";

export type { DeliveryAttempt, DeliveryPolicy } from "./delivery.js";
export { isLoopbackHost } from "./delivery.js";
export { isNotifierError, NotifierError, type NotifierErrorCode } from "./errors.js";
export {
  buildEventBridgeEvents,
  EVENT_REGION,
  EVENT_SOURCE,
  type EventLicenseArnFormat,
  eventBridgeDetailTypes,
  type MarketplaceEvent,
  type MarketplaceEventDetail,
} from "./eventbridge.js";
export {
  legacyMessage,
  MARKETPLACE_TOPIC_ACCOUNT,
  marketplaceTopicArn,
  type SnsEnvelope,
  type SnsMessageType,
  type SnsSignatureVersion,
  type SnsTopicKind,
  snsStringToSign,
  snsTopicKind,
  toSqsBody,
} from "./sns.js";

/** Path prefix the notifier answers under (certificate, confirmation, unsubscribe). */
export const SNS_PATH_PREFIX = "/_emulator/sns/";

export interface NotifierOptions {
  webhooks: WebhookConfig;
  sellerAccountId: string;
  /** Absolute URL under which the emulator serves `/_emulator/sns/*` (e.g. http://127.0.0.1:PORT). */
  baseUrl: () => string;
  now: () => Date;
  /**
   * How `license.arn` appears in License events: the full ARN, or without `arn:` like the AWS docs sample.
   * @default "full"
   */
  eventLicenseArnFormat?: EventLicenseArnFormat;
  /** Retries and timeouts per message. @default { attempts: 3, backoffMs: 50, timeoutMs: 5000 } */
  delivery?: DeliveryPolicy;
}

export interface DeliveryLog {
  kind: "eventbridge" | "sns";
  url: string;
  /** EventBridge `detail-type`, or the SNS message `Type`. */
  type: string;
  status: number | "error";
  attempts: number;
  /** Emulator clock time when the message was built, ISO 8601. */
  time: string;
  /** The lifecycle action behind the message (absent for SNS handshake messages sent on unsubscribe). */
  action?: LifecycleAction;
  /** EventBridge event `id` or SNS `MessageId`. */
  messageId?: string;
  topicArn?: string;
  /** SNS only: whether the endpoint had confirmed its subscription when this message was sent. */
  subscriptionConfirmed?: boolean;
  /** True when the receiver answered 2xx. */
  delivered?: boolean;
  /** Last failure reason when no HTTP status was obtained. */
  error?: string;
  /** Every HTTP attempt, in order. */
  attemptLog?: DeliveryAttempt[];
}

export interface Notifier {
  /** Delivers one lifecycle change to every configured webhook; resolves when delivery attempts end. */
  emit(n: LifecycleNotification): Promise<void>;
  /** Handles `/_emulator/sns/*` (certificate download, subscription confirmation); false if not handled. */
  handle(req: IncomingMessage, res: ServerResponse, url: URL): boolean;
  setWebhooks(webhooks: WebhookConfig): void;
  deliveries(): DeliveryLog[];
  certificatePem: string;
  close(): Promise<void>;
  /** Resolves once no delivery is in flight (including held messages released by a confirmation). */
  idle?(): Promise<void>;
  /** SNS subscriptions known to the notifier, one per endpoint URL and topic. */
  snsSubscriptions?(): SnsSubscriptionInfo[];
}

export interface SnsSubscriptionInfo {
  url: string;
  topicArn: string;
  subscriptionArn: string;
  state: "pending" | "confirmed" | "unsubscribed";
  /** Notifications waiting for confirmation (only with `requireConfirmation`). */
  held: number;
}

type SnsEndpoint = NonNullable<WebhookConfig["sns"]>[number];
type EventBridgeEndpoint = NonNullable<WebhookConfig["eventBridge"]>[number];

interface Subscription {
  url: string;
  topicArn: string;
  subscriptionArn: string;
  token: string;
  state: "pending" | "confirmed" | "unsubscribed";
  /** Set once a SubscriptionConfirmation reached the endpoint (or is being sent). */
  confirmationSent: Promise<boolean> | undefined;
  held: Array<{ envelope: SnsEnvelope; action: LifecycleAction; time: string }>;
  /** Serialises deliveries to one subscription so the endpoint sees messages in emission order. */
  chain: Promise<void>;
}

const SNS_USER_AGENT = "Amazon Simple Notification Service Agent";
const EVENTBRIDGE_USER_AGENT = "Amazon/EventBridge/ApiDestinations";
const DEFAULT_SECRET_HEADER = "x-marketmeter-webhook-secret";
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const ACTIONS: ReadonlySet<string> = new Set<LifecycleAction>([
  "subscribe-success",
  "subscribe-fail",
  "unsubscribe-pending",
  "unsubscribe-success",
  "entitlement-updated",
  "agreement-created",
  "agreement-amended",
  "agreement-ended",
  "license-updated",
  "license-deprovisioned",
]);

/** Validates a webhook configuration and returns a normalised copy; throws NotifierError. */
export function validateWebhooks(webhooks: unknown): WebhookConfig {
  if (typeof webhooks !== "object" || webhooks === null || Array.isArray(webhooks)) {
    throw new NotifierError("INVALID_CONFIG", "webhooks must be an object { eventBridge?, sns? }");
  }
  const { eventBridge, sns } = webhooks as WebhookConfig;
  const out: WebhookConfig = {};
  if (eventBridge !== undefined) {
    if (!Array.isArray(eventBridge))
      throw new NotifierError("INVALID_CONFIG", "webhooks.eventBridge must be an array");
    out.eventBridge = eventBridge.map((entry, i) => {
      const where = `webhooks.eventBridge[${i}]`;
      if (typeof entry !== "object" || entry === null)
        throw new NotifierError("INVALID_CONFIG", `${where} must be an object`);
      const url = assertLoopbackUrl(entry.url, where).href;
      const copy: EventBridgeEndpoint = { url };
      if (entry.secret !== undefined) {
        if (typeof entry.secret !== "string" || entry.secret.length === 0 || /[\r\n]/.test(entry.secret)) {
          throw new NotifierError("INVALID_CONFIG", `${where}.secret must be a non-empty single-line string`);
        }
        copy.secret = entry.secret;
      }
      if (entry.header !== undefined) {
        if (typeof entry.header !== "string" || !HEADER_NAME.test(entry.header)) {
          throw new NotifierError("INVALID_CONFIG", `${where}.header must be a valid HTTP header name`);
        }
        copy.header = entry.header;
      }
      return copy;
    });
  }
  if (sns !== undefined) {
    if (!Array.isArray(sns)) throw new NotifierError("INVALID_CONFIG", "webhooks.sns must be an array");
    out.sns = sns.map((entry, i) => {
      const where = `webhooks.sns[${i}]`;
      if (typeof entry !== "object" || entry === null)
        throw new NotifierError("INVALID_CONFIG", `${where} must be an object`);
      const url = assertLoopbackUrl(entry.url, where).href;
      const copy: SnsEndpoint = { url };
      if (entry.topics !== undefined) {
        if (
          !Array.isArray(entry.topics) ||
          entry.topics.length === 0 ||
          entry.topics.some((t) => t !== "subscription" && t !== "entitlement")
        ) {
          throw new NotifierError(
            "INVALID_CONFIG",
            `${where}.topics must list "subscription" and/or "entitlement"`,
          );
        }
        copy.topics = [...entry.topics];
      }
      if (entry.signatureVersion !== undefined) {
        if (entry.signatureVersion !== "1" && entry.signatureVersion !== "2") {
          throw new NotifierError("INVALID_CONFIG", `${where}.signatureVersion must be "1" or "2"`);
        }
        copy.signatureVersion = entry.signatureVersion;
      }
      if (entry.requireConfirmation !== undefined) {
        if (typeof entry.requireConfirmation !== "boolean") {
          throw new NotifierError("INVALID_CONFIG", `${where}.requireConfirmation must be a boolean`);
        }
        copy.requireConfirmation = entry.requireConfirmation;
      }
      return copy;
    });
  }
  return out;
}

function validateNotification(n: unknown): LifecycleNotification {
  if (typeof n !== "object" || n === null) {
    throw new NotifierError("INVALID_NOTIFICATION", "notification must be an object");
  }
  const v = n as LifecycleNotification;
  if (typeof v.action !== "string" || !ACTIONS.has(v.action)) {
    throw new NotifierError("INVALID_NOTIFICATION", `unknown lifecycle action ${JSON.stringify(v.action)}`);
  }
  if (typeof v.productCode !== "string" || v.productCode.length === 0) {
    throw new NotifierError("INVALID_NOTIFICATION", "notification needs a non-empty productCode");
  }
  if (!(v.time instanceof Date) || Number.isNaN(v.time.getTime())) {
    throw new NotifierError("INVALID_NOTIFICATION", "notification time must be a valid Date");
  }
  for (const key of [
    "customerIdentifier",
    "customerAWSAccountId",
    "licenseArn",
    "agreementId",
    "offerId",
    "productId",
  ] as const) {
    const value = v[key];
    if (value !== undefined && (typeof value !== "string" || value.length === 0)) {
      throw new NotifierError("INVALID_NOTIFICATION", `${key} must be a non-empty string when given`);
    }
  }
  if (snsTopicKind(v.action) && v.customerIdentifier === undefined && v.customerAWSAccountId === undefined) {
    throw new NotifierError(
      "INVALID_NOTIFICATION",
      `${v.action} needs a customerIdentifier (or, for a Concurrent Agreements buyer, a customerAWSAccountId)`,
    );
  }
  return v;
}

function stripTrailingSlash(url: string): string {
  return url.replace(/\/+$/, "");
}

function xmlEscape(value: string): string {
  return value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * Creates the notifier. Keys and the signing certificate are generated here, once per notifier.
 *
 * Choices worth knowing:
 * - A lifecycle action maps to what AWS sends for it: agreement actions → `Purchase Agreement … - Proposer`
 *   and `- Manufacturer`; license actions → `License … - Manufacturer`; legacy actions → one SNS message on
 *   the subscription (or, for `entitlement-updated`, the entitlement) topic and no EventBridge event.
 * - Before the first Notification to an endpoint+topic a signed `SubscriptionConfirmation` is sent. Real
 *   SNS would not deliver to an unconfirmed endpoint; the emulator delivers anyway (so tests need not
 *   script the handshake) and records `subscriptionConfirmed` in the log. Set `requireConfirmation` on the
 *   webhook to hold Notifications until the endpoint visits the SubscribeURL.
 * - Deliveries retry on connection errors, timeouts, 408, 429 and 5xx; other statuses are final.
 *
 * @example
 * const notifier = createNotifier({
 *   webhooks: { eventBridge: [{ url: "http://127.0.0.1:4000/events", secret: "s3cr3t" }],
 *               sns: [{ url: "http://127.0.0.1:4000/sns" }] },
 *   sellerAccountId: "111122223333",
 *   baseUrl: () => "http://127.0.0.1:4566",
 *   now: () => clock.now(),
 * });
 * await notifier.emit({ action: "subscribe-success", productCode: "pleg…", customerIdentifier: "cust-1", time: clock.now() });
 */
export function createNotifier(options: NotifierOptions): Notifier {
  if (typeof options !== "object" || options === null) {
    throw new NotifierError("INVALID_CONFIG", "createNotifier needs an options object");
  }
  if (typeof options.sellerAccountId !== "string" || !/^\d{12}$/.test(options.sellerAccountId)) {
    throw new NotifierError("INVALID_CONFIG", "sellerAccountId must be a 12-digit AWS account id");
  }
  if (typeof options.baseUrl !== "function" || typeof options.now !== "function") {
    throw new NotifierError("INVALID_CONFIG", "baseUrl and now must be functions");
  }
  const licenseArnFormat = options.eventLicenseArnFormat ?? "full";
  if (licenseArnFormat !== "full" && licenseArnFormat !== "docExample") {
    throw new NotifierError("INVALID_CONFIG", `eventLicenseArnFormat must be "full" or "docExample"`);
  }
  const policy: ResolvedDeliveryPolicy = resolveDeliveryPolicy(options.delivery);
  const sellerAccountId = options.sellerAccountId;
  const now = options.now;

  let webhooks = validateWebhooks(options.webhooks);
  let closed = false;
  const abort = new AbortController();
  const log: DeliveryLog[] = [];
  const inflight = new Set<Promise<unknown>>();
  const subscriptions = new Map<string, Subscription>();
  const byToken = new Map<string, Subscription>();
  const byArn = new Map<string, Subscription>();
  const signer: SnsSigner = createSnsSigner(now());

  function track<T>(p: Promise<T>): Promise<T> {
    inflight.add(p);
    p.finally(() => inflight.delete(p)).catch(() => undefined);
    return p;
  }

  function snsUrl(path: string): string {
    return `${stripTrailingSlash(options.baseUrl())}${SNS_PATH_PREFIX}${path}`;
  }

  function isoMs(): string {
    return now().toISOString();
  }

  async function postEvent(endpoint: EventBridgeEndpoint, event: MarketplaceEvent, action: LifecycleAction) {
    const headers: Record<string, string> = {
      "content-type": "application/json; charset=utf-8",
      "user-agent": EVENTBRIDGE_USER_AGENT,
    };
    // An API destination connection with API-key auth sends the key in a header of the seller's choosing.
    if (endpoint.secret !== undefined)
      headers[(endpoint.header ?? DEFAULT_SECRET_HEADER).toLowerCase()] = endpoint.secret;
    const time = isoMs();
    const outcome = await deliver(endpoint.url, headers, JSON.stringify(event), policy, abort.signal);
    const entry: DeliveryLog = {
      kind: "eventbridge",
      url: endpoint.url,
      type: event["detail-type"],
      status: outcome.status,
      attempts: outcome.attempts,
      time,
      action,
      messageId: event.id,
      delivered: outcome.ok,
      attemptLog: outcome.attemptLog,
    };
    if (outcome.error !== undefined) entry.error = outcome.error;
    log.push(entry);
  }

  async function postSns(
    sub: Subscription,
    envelope: SnsEnvelope,
    action: LifecycleAction | undefined,
    time: string,
  ): Promise<boolean> {
    const headers: Record<string, string> = {
      "content-type": "text/plain; charset=UTF-8",
      "user-agent": SNS_USER_AGENT,
      "x-amz-sns-message-type": envelope.Type,
      "x-amz-sns-message-id": envelope.MessageId,
      "x-amz-sns-topic-arn": envelope.TopicArn,
    };
    if (envelope.Type !== "SubscriptionConfirmation")
      headers["x-amz-sns-subscription-arn"] = sub.subscriptionArn;
    const confirmed = sub.state === "confirmed";
    const outcome = await deliver(sub.url, headers, formatSnsJson(envelope), policy, abort.signal);
    const entry: DeliveryLog = {
      kind: "sns",
      url: sub.url,
      type: envelope.Type,
      status: outcome.status,
      attempts: outcome.attempts,
      time,
      messageId: envelope.MessageId,
      topicArn: envelope.TopicArn,
      subscriptionConfirmed: confirmed,
      delivered: outcome.ok,
      attemptLog: outcome.attemptLog,
    };
    if (action !== undefined) entry.action = action;
    if (outcome.error !== undefined) entry.error = outcome.error;
    log.push(entry);
    return outcome.ok;
  }

  /** Runs `task` after every earlier delivery to the same subscription. */
  function enqueue<T>(sub: Subscription, task: () => Promise<T>): Promise<T> {
    const run = sub.chain.then(task);
    sub.chain = run.then(
      () => undefined,
      () => undefined,
    );
    return track(run);
  }

  function subscriptionFor(url: string, topicArn: string): Subscription {
    const key = `${url}\n${topicArn}`;
    let sub = subscriptions.get(key);
    if (!sub) {
      sub = {
        url,
        topicArn,
        subscriptionArn: `${topicArn}:${randomUUID()}`,
        token: randomBytes(64).toString("hex"),
        state: "pending",
        confirmationSent: undefined,
        held: [],
        chain: Promise.resolve(),
      };
      subscriptions.set(key, sub);
      byToken.set(sub.token, sub);
      byArn.set(sub.subscriptionArn, sub);
    }
    return sub;
  }

  function confirmationEnvelope(
    sub: Subscription,
    type: "SubscriptionConfirmation" | "UnsubscribeConfirmation",
    version: SnsSignatureVersion,
  ): SnsEnvelope {
    const message =
      type === "SubscriptionConfirmation"
        ? `You have chosen to subscribe to the topic ${sub.topicArn}.\nTo confirm the subscription, visit the SubscribeURL included in this message.`
        : `You have chosen to deactivate subscription ${sub.subscriptionArn}.\nTo cancel this operation and restore the subscription, visit the SubscribeURL included in this message.`;
    return signer.sign({
      Type: type,
      MessageId: randomUUID(),
      Token: sub.token,
      TopicArn: sub.topicArn,
      Message: message,
      SubscribeURL: snsUrl(
        `confirm?Action=ConfirmSubscription&TopicArn=${encodeURIComponent(sub.topicArn)}&token=${sub.token}`,
      ),
      Timestamp: isoMs(),
      SignatureVersion: version,
      SigningCertURL: snsUrl(CERT_FILE),
    });
  }

  function ensureConfirmationSent(sub: Subscription, version: SnsSignatureVersion, action: LifecycleAction) {
    if (!sub.confirmationSent) {
      const envelope = confirmationEnvelope(sub, "SubscriptionConfirmation", version);
      const time = envelope.Timestamp;
      sub.confirmationSent = enqueue(sub, () => postSns(sub, envelope, action, time)).then((ok) => {
        // A confirmation that never arrived is sent again before the next notification, as SNS re-sends.
        if (!ok) sub.confirmationSent = undefined;
        return ok;
      });
    }
    return sub.confirmationSent;
  }

  async function emitSns(endpoint: SnsEndpoint, kind: SnsTopicKind, n: LifecycleNotification): Promise<void> {
    const topics = endpoint.topics ?? ["subscription", "entitlement"];
    if (!topics.includes(kind)) return;
    const sub = subscriptionFor(endpoint.url, marketplaceTopicArn(kind, n.productCode));
    if (sub.state === "unsubscribed") return;
    const version = endpoint.signatureVersion ?? "2";
    void ensureConfirmationSent(sub, version, n.action);
    const envelope = signer.sign({
      Type: "Notification",
      MessageId: randomUUID(),
      TopicArn: sub.topicArn,
      Message: legacyMessage(n),
      Timestamp: isoMs(),
      SignatureVersion: version,
      SigningCertURL: snsUrl(CERT_FILE),
      UnsubscribeURL: snsUrl(
        `unsubscribe?Action=Unsubscribe&SubscriptionArn=${encodeURIComponent(sub.subscriptionArn)}`,
      ),
    });
    await enqueue(sub, async () => {
      if (endpoint.requireConfirmation && sub.state !== "confirmed") {
        sub.held.push({ envelope, action: n.action, time: envelope.Timestamp });
        return;
      }
      await postSns(sub, envelope, n.action, envelope.Timestamp);
    });
  }

  async function emitEventBridge(
    endpoint: EventBridgeEndpoint,
    events: MarketplaceEvent[],
    action: LifecycleAction,
  ) {
    // One endpoint receives its events in order (Proposer before Manufacturer), which keeps tests deterministic.
    for (const event of events) await postEvent(endpoint, event, action);
  }

  function releaseHeld(sub: Subscription) {
    const held = sub.held.splice(0);
    for (const h of held) void enqueue(sub, () => postSns(sub, h.envelope, h.action, h.time));
  }

  function sendXml(res: ServerResponse, status: number, xml: string) {
    res.writeHead(status, { "content-type": "text/xml", "x-amzn-requestid": randomUUID() });
    res.end(xml);
  }

  function xmlError(res: ServerResponse, status: number, code: string, message: string) {
    sendXml(
      res,
      status,
      `<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">\n  <Error>\n    <Type>Sender</Type>\n    <Code>${code}</Code>\n    <Message>${xmlEscape(message)}</Message>\n  </Error>\n  <RequestId>${randomUUID()}</RequestId>\n</ErrorResponse>\n`,
    );
  }

  const notifier: Notifier = {
    certificatePem: signer.certificatePem,

    async emit(input) {
      if (closed) throw new NotifierError("CLOSED", "the notifier is closed");
      const n = validateNotification(input);
      const events = buildEventBridgeEvents(n, { sellerAccountId, licenseArnFormat });
      const kind = snsTopicKind(n.action);
      const jobs: Array<Promise<unknown>> = [];
      if (events.length > 0) {
        for (const endpoint of webhooks.eventBridge ?? [])
          jobs.push(track(emitEventBridge(endpoint, events, n.action)));
      }
      if (kind) {
        for (const endpoint of webhooks.sns ?? []) jobs.push(track(emitSns(endpoint, kind, n)));
      }
      await Promise.all(jobs);
    },

    handle(req, res, url) {
      if (!url.pathname.startsWith(SNS_PATH_PREFIX)) return false;
      const name = url.pathname.slice(SNS_PATH_PREFIX.length);
      const method = req.method ?? "GET";
      if (name === CERT_FILE) {
        if (method !== "GET" && method !== "HEAD") return false;
        res.writeHead(200, {
          "content-type": "application/x-x509-ca-cert",
          "content-length": Buffer.byteLength(signer.certificatePem),
        });
        res.end(method === "HEAD" ? undefined : signer.certificatePem);
        return true;
      }
      if (name === "confirm") {
        if (method !== "GET" && method !== "POST") return false;
        const token = url.searchParams.get("token") ?? url.searchParams.get("Token") ?? "";
        const sub = byToken.get(token);
        if (!sub) {
          xmlError(res, 400, "InvalidParameter", "Invalid parameter: Token");
          return true;
        }
        sub.state = "confirmed";
        sendXml(
          res,
          200,
          `<ConfirmSubscriptionResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">\n  <ConfirmSubscriptionResult>\n    <SubscriptionArn>${xmlEscape(sub.subscriptionArn)}</SubscriptionArn>\n  </ConfirmSubscriptionResult>\n  <ResponseMetadata>\n    <RequestId>${randomUUID()}</RequestId>\n  </ResponseMetadata>\n</ConfirmSubscriptionResponse>\n`,
        );
        if (!closed) releaseHeld(sub);
        return true;
      }
      if (name === "unsubscribe") {
        if (method !== "GET" && method !== "POST") return false;
        const sub = byArn.get(url.searchParams.get("SubscriptionArn") ?? "");
        if (!sub) {
          xmlError(res, 404, "NotFound", "Subscription does not exist");
          return true;
        }
        const wasActive = sub.state !== "unsubscribed";
        sub.state = "unsubscribed";
        sub.held.length = 0;
        sendXml(
          res,
          200,
          `<UnsubscribeResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">\n  <ResponseMetadata>\n    <RequestId>${randomUUID()}</RequestId>\n  </ResponseMetadata>\n</UnsubscribeResponse>\n`,
        );
        if (wasActive && !closed) {
          // SNS tells the endpoint it was unsubscribed, with a SubscribeURL to undo it.
          const endpoint = (webhooks.sns ?? []).find((e) => e.url === sub.url);
          const envelope = confirmationEnvelope(
            sub,
            "UnsubscribeConfirmation",
            endpoint?.signatureVersion ?? "2",
          );
          void enqueue(sub, () => postSns(sub, envelope, undefined, envelope.Timestamp));
        }
        return true;
      }
      return false;
    },

    setWebhooks(next) {
      if (closed) throw new NotifierError("CLOSED", "the notifier is closed");
      webhooks = validateWebhooks(next);
      // An endpoint that is no longer configured loses its subscription, so re-adding it starts a new
      // handshake, as a fresh SNS subscription would.
      const urls = new Set((webhooks.sns ?? []).map((e) => e.url));
      for (const [key, sub] of subscriptions) {
        if (!urls.has(sub.url)) {
          subscriptions.delete(key);
          byToken.delete(sub.token);
          byArn.delete(sub.subscriptionArn);
        }
      }
    },

    deliveries() {
      return log.map((entry) => structuredClone(entry));
    },

    async idle() {
      while (inflight.size > 0) await Promise.allSettled([...inflight]);
    },

    snsSubscriptions() {
      return [...subscriptions.values()].map((s) => ({
        url: s.url,
        topicArn: s.topicArn,
        subscriptionArn: s.subscriptionArn,
        state: s.state,
        held: s.held.length,
      }));
    },

    async close() {
      if (closed) return;
      closed = true;
      abort.abort();
      while (inflight.size > 0) await Promise.allSettled([...inflight]);
    },
  };
  return notifier;
}
