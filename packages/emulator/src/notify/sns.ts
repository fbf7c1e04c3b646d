import { generateKeyPairSync, type KeyObject, randomBytes, sign } from "node:crypto";
import forge from "node-forge";
import type { LifecycleAction, LifecycleNotification } from "../types.js";
import { NotifierError } from "./errors.js";

/**
 * AWS account that owns the AWS Marketplace SNS topics (`aws-mp-subscription-notification-…`).
 * Sellers subscribe to these topics; they never own them.
 */
export const MARKETPLACE_TOPIC_ACCOUNT = "287250355862";
export const SNS_REGION = "us-east-1";
/** File name under `/_emulator/sns/` where the signing certificate is served. */
export const CERT_FILE = "SimpleNotificationService-emulator.pem";

export type SnsMessageType = "Notification" | "SubscriptionConfirmation" | "UnsubscribeConfirmation";
export type SnsSignatureVersion = "1" | "2";
export type SnsTopicKind = "subscription" | "entitlement";

/** The JSON document SNS POSTs to an HTTP(S) subscriber, field for field. */
export interface SnsEnvelope {
  Type: SnsMessageType;
  MessageId: string;
  /** Confirmation messages only. */
  Token?: string;
  TopicArn: string;
  /** Notifications only, and only when the publisher set one (AWS Marketplace does not). */
  Subject?: string;
  Message: string;
  /** Confirmation messages only. */
  SubscribeURL?: string;
  Timestamp: string;
  SignatureVersion: SnsSignatureVersion;
  Signature: string;
  SigningCertURL: string;
  /** Notifications only. */
  UnsubscribeURL?: string;
}

const LEGACY_TOPIC: Partial<Record<LifecycleAction, SnsTopicKind>> = {
  "subscribe-success": "subscription",
  "subscribe-fail": "subscription",
  "unsubscribe-pending": "subscription",
  "unsubscribe-success": "subscription",
  "entitlement-updated": "entitlement",
};

/**
 * The legacy SNS topic an action is published on, or undefined for EventBridge-only actions.
 *
 * @example
 * snsTopicKind("entitlement-updated") // "entitlement"
 */
export function snsTopicKind(action: LifecycleAction): SnsTopicKind | undefined {
  return LEGACY_TOPIC[action];
}

/**
 * The ARN of an AWS Marketplace topic for a product.
 *
 * @example
 * marketplaceTopicArn("subscription", "pleg123") // "arn:aws:sns:us-east-1:287250355862:aws-mp-subscription-notification-pleg123"
 */
export function marketplaceTopicArn(kind: SnsTopicKind, productCode: string): string {
  return `arn:aws:sns:${SNS_REGION}:${MARKETPLACE_TOPIC_ACCOUNT}:aws-mp-${kind}-notification-${productCode}`;
}

/**
 * The `Message` string of a legacy notification. It carries only what the real one carries: the legacy
 * `customer-identifier` (omitted when the buyer has none, i.e. a Concurrent Agreements buyer), never the
 * AWS account id or license ARN. `offer-identifier` is only sent on subscribe-success/-fail.
 */
export function legacyMessage(n: LifecycleNotification): string {
  const body: Record<string, string> = { action: n.action };
  if (n.customerIdentifier !== undefined) body["customer-identifier"] = n.customerIdentifier;
  body["product-code"] = n.productCode;
  if (n.offerId !== undefined && (n.action === "subscribe-success" || n.action === "subscribe-fail")) {
    body["offer-identifier"] = n.offerId;
  }
  body.isFreeTrialTermPresent = n.isFreeTrialTermPresent === true ? "true" : "false";
  return JSON.stringify(body);
}

const NOTIFICATION_KEYS = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"] as const;
const CONFIRMATION_KEYS = [
  "Message",
  "MessageId",
  "SubscribeURL",
  "Timestamp",
  "Token",
  "TopicArn",
  "Type",
] as const;

/**
 * The canonical string SNS signs: selected fields in byte order of their names, each as `Name\nValue\n`.
 * `Subject` is included only when present.
 *
 * @example
 * const ok = crypto.verify("sha256", Buffer.from(snsStringToSign(env)), cert.publicKey, Buffer.from(env.Signature, "base64"));
 */
export function snsStringToSign(envelope: Omit<SnsEnvelope, "Signature"> & { Signature?: string }): string {
  const keys = envelope.Type === "Notification" ? NOTIFICATION_KEYS : CONFIRMATION_KEYS;
  let out = "";
  for (const key of keys) {
    const value = (envelope as Record<string, unknown>)[key];
    if (value === undefined) {
      if (key === "Subject") continue;
      throw new NotifierError("INVALID_NOTIFICATION", `SNS ${envelope.Type} lacks ${key}`);
    }
    out += `${key}\n${String(value)}\n`;
  }
  return out;
}

/**
 * Serialises an envelope as SNS does on the wire: one `"Key" : value` pair per line. The same text is
 * the body of the SQS message when a queue subscribes to the topic without raw delivery.
 */
export function formatSnsJson(envelope: SnsEnvelope): string {
  const order: Array<keyof SnsEnvelope> = [
    "Type",
    "MessageId",
    "Token",
    "TopicArn",
    "Subject",
    "Message",
    "SubscribeURL",
    "Timestamp",
    "SignatureVersion",
    "Signature",
    "SigningCertURL",
    "UnsubscribeURL",
  ];
  const lines: string[] = [];
  for (const key of order) {
    const value = envelope[key];
    if (value !== undefined) lines.push(`  ${JSON.stringify(key)} : ${JSON.stringify(value)}`);
  }
  return `{\n${lines.join(",\n")}\n}`;
}

/**
 * The SQS message body a queue subscribed to the topic receives (for queue-consumer tests).
 *
 * @example
 * await sqsConsumer.handle({ Body: toSqsBody(envelope) });
 */
export function toSqsBody(envelope: SnsEnvelope): string {
  if (typeof envelope !== "object" || envelope === null || typeof envelope.Type !== "string") {
    throw new NotifierError("INVALID_NOTIFICATION", "toSqsBody expects an SNS envelope object");
  }
  return formatSnsJson(envelope);
}

/** The signing identity of one notifier: an RSA key and a self-signed certificate for it. */
export interface SnsSigner {
  certificatePem: string;
  sign(envelope: Omit<SnsEnvelope, "Signature">): SnsEnvelope;
}

/**
 * Generates a fresh 2048-bit RSA key and a self-signed certificate. Validity spans both the wall clock
 * and the emulator clock (which tests often move into the future), so verifiers checking dates accept it.
 */
export function createSnsSigner(emulatorNow: Date): SnsSigner {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const certificatePem = selfSignedCertificate(privateKey, publicKey, emulatorNow);
  return {
    certificatePem,
    sign(unsigned) {
      const algorithm = unsigned.SignatureVersion === "1" ? "sha1" : "sha256";
      const data = Buffer.from(snsStringToSign(unsigned), "utf8");
      return { ...unsigned, Signature: sign(algorithm, data, privateKey).toString("base64") };
    },
  };
}

const DAY_MS = 24 * 3600 * 1000;

function selfSignedCertificate(privateKey: KeyObject, publicKey: KeyObject, emulatorNow: Date): string {
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKey.export({ type: "spki", format: "pem" }).toString());
  // A positive serial: a leading byte below 0x80 keeps the DER integer unsigned.
  cert.serialNumber = `01${randomBytes(15).toString("hex")}`;
  const wall = Date.now();
  const emu = Number.isNaN(emulatorNow.getTime()) ? wall : emulatorNow.getTime();
  cert.validity.notBefore = new Date(Math.min(wall, emu) - DAY_MS);
  cert.validity.notAfter = new Date(Math.max(wall, emu) + 10 * 365 * DAY_MS);
  const name = [
    { name: "commonName", value: "sns.emulator.marketmeter.invalid" },
    { name: "organizationName", value: "marketmeter emulator (self-signed, not AWS)" },
  ];
  cert.setSubject(name);
  cert.setIssuer(name);
  cert.setExtensions([
    { name: "basicConstraints", cA: false },
    { name: "keyUsage", digitalSignature: true, critical: true },
    { name: "subjectKeyIdentifier" },
  ]);
  const forgeKey = forge.pki.privateKeyFromPem(
    privateKey.export({ type: "pkcs1", format: "pem" }).toString(),
  );
  cert.sign(forgeKey, forge.md.sha256.create());
  // forge writes CRLF line ends; LF is what SNS serves and what most PEM consumers expect.
  return forge.pki.certificateToPem(cert).replace(/\r\n/g, "\n");
}
