import { MarketplaceError } from "../errors/index.js";

export type SnsMessageType = "Notification" | "SubscriptionConfirmation" | "UnsubscribeConfirmation";

/** The JSON document SNS POSTs to an HTTP(S) endpoint (and the body of an SQS message without raw delivery). */
export interface SnsEnvelope {
  Type: SnsMessageType;
  MessageId: string;
  TopicArn: string;
  Message: string;
  Timestamp: string;
  SignatureVersion: "1" | "2";
  Signature: string;
  SigningCertURL: string;
  Subject?: string;
  Token?: string;
  SubscribeURL?: string;
  UnsubscribeURL?: string;
}

const TYPES: readonly string[] = ["Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation"];
const MAX_FIELD = 262_144;

function invalid(message: string): never {
  throw new MarketplaceError("INVALID_NOTIFICATION", message, { details: { httpStatus: 400 } });
}

/**
 * Checks that a parsed JSON value has the shape of an SNS message and returns it typed. Only the fields
 * SNS defines are kept; every one must be a string. Throws `INVALID_NOTIFICATION`.
 */
export function parseSnsEnvelope(value: unknown): SnsEnvelope {
  if (typeof value !== "object" || value === null || Array.isArray(value))
    invalid("SNS message must be a JSON object");
  const v = value as Record<string, unknown>;
  const str = (key: string, required: boolean): string | undefined => {
    const x = v[key];
    if (x === undefined || x === null) {
      if (required) invalid(`SNS message lacks ${key}`);
      return undefined;
    }
    if (typeof x !== "string") invalid(`SNS message field ${key} must be a string`);
    if (x.length > MAX_FIELD) invalid(`SNS message field ${key} is too long`);
    return x;
  };
  const type = str("Type", true) as string;
  if (!TYPES.includes(type))
    invalid(`SNS message Type ${JSON.stringify(type.slice(0, 40))} is not supported`);
  const confirmation = type !== "Notification";
  const version = str("SignatureVersion", true) as string;
  if (version !== "1" && version !== "2")
    invalid(
      `SNS SignatureVersion ${JSON.stringify(version.slice(0, 10))} is not supported (expected 1 or 2)`,
    );
  const envelope: SnsEnvelope = {
    Type: type as SnsMessageType,
    MessageId: str("MessageId", true) as string,
    TopicArn: str("TopicArn", true) as string,
    Message: str("Message", true) as string,
    Timestamp: str("Timestamp", true) as string,
    SignatureVersion: version,
    Signature: str("Signature", true) as string,
    SigningCertURL: str("SigningCertURL", true) as string,
  };
  if (envelope.MessageId === "") invalid("SNS MessageId must not be empty");
  const subject = str("Subject", false);
  if (subject !== undefined && !confirmation) envelope.Subject = subject;
  const token = str("Token", confirmation);
  if (token !== undefined && confirmation) envelope.Token = token;
  const subscribeUrl = str("SubscribeURL", confirmation);
  if (subscribeUrl !== undefined && confirmation) envelope.SubscribeURL = subscribeUrl;
  const unsubscribeUrl = str("UnsubscribeURL", false);
  if (unsubscribeUrl !== undefined) envelope.UnsubscribeURL = unsubscribeUrl;
  return envelope;
}

const NOTIFICATION_FIELDS = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"] as const;
const CONFIRMATION_FIELDS = [
  "Message",
  "MessageId",
  "SubscribeURL",
  "Timestamp",
  "Token",
  "TopicArn",
  "Type",
] as const;

/**
 * The text SNS signs: a fixed list of fields per message type, in that order, each as `Name\nValue\n`;
 * `Subject` only when the notification has one.
 *
 * @example
 * crypto.verify("sha256", Buffer.from(snsStringToSign(envelope)), publicKey, Buffer.from(envelope.Signature, "base64"))
 */
export function snsStringToSign(envelope: SnsEnvelope): string {
  const fields = envelope.Type === "Notification" ? NOTIFICATION_FIELDS : CONFIRMATION_FIELDS;
  let out = "";
  for (const key of fields) {
    const value = envelope[key];
    if (value === undefined) {
      if (key === "Subject") continue;
      invalid(`SNS ${envelope.Type} lacks ${key}`);
    }
    out += `${key}\n${value}\n`;
  }
  return out;
}
