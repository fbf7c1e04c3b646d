import { createHash, timingSafeEqual } from "node:crypto";
import { MarketplaceError } from "../errors/index.js";
import {
  headerOf,
  type IncomingRequest,
  invalidRequest,
  isIncomingRequest,
  readBody,
} from "../registration/index.js";
import type { Logger } from "../runtime/index.js";
import { type FetchLike, parseSnsEnvelope, readLimited, type SnsVerifier } from "../sns/index.js";
import { parseEventBridgeEvent, parseSnsNotification } from "./events.js";
import type { LifecycleOutcome, LifecycleProcessor } from "./processor.js";

function invalid(message: string): MarketplaceError {
  return new MarketplaceError("INVALID_NOTIFICATION", message, { details: { httpStatus: 400 } });
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw invalid(`${what} is not valid JSON`);
  }
}

function bodyValue(request: IncomingRequest, maxBytes: number, what: string): unknown {
  const method = (request.method ?? "POST").toUpperCase();
  if (method !== "POST") throw invalidRequest(`${what} must be POSTed, not ${method.slice(0, 16)}`, 405);
  const body = readBody(request, maxBytes);
  if (body.kind === "none") throw invalid(`${what} has no body`);
  return body.kind === "parsed" ? body.value : parseJson(body.text, what);
}

const digest = (value: string) => createHash("sha256").update(value, "utf8").digest();

/**
 * Compares a presented secret with the configured one in constant time: both are hashed first so the
 * comparison always runs over 32 equal-length bytes, whatever the lengths of the inputs.
 */
export function secretsMatch(presented: string | undefined, expected: string): boolean {
  if (presented === undefined) return false;
  return timingSafeEqual(digest(presented), digest(expected));
}

export interface EventBridgeHandlerOptions {
  processor: LifecycleProcessor;
  secret: string | undefined;
  header: string;
  maxBodyBytes: number;
  clock: () => number;
}

/**
 * EventBridge: a raw event (Lambda, queue consumer, or its JSON text) is trusted as delivered by AWS; an
 * HTTP request (an API destination) must carry the shared secret in the configured header.
 */
export async function handleEventBridgeInput(
  input: unknown,
  o: EventBridgeHandlerOptions,
): Promise<LifecycleOutcome> {
  let value: unknown;
  if (typeof input === "string") {
    if (Buffer.byteLength(input, "utf8") > o.maxBodyBytes) throw invalidRequest("event is too large", 413);
    value = parseJson(input, "EventBridge event");
  } else if (isIncomingRequest(input) && !("detail-type" in input)) {
    if (o.secret === undefined)
      throw new MarketplaceError(
        "UNAUTHORIZED",
        "EventBridge webhook requests need eventBridge.secret to be configured (the API destination's API key)",
        { details: { httpStatus: 401 } },
      );
    if (!secretsMatch(headerOf(input, o.header), o.secret))
      throw new MarketplaceError("UNAUTHORIZED", "EventBridge webhook secret is missing or wrong", {
        details: { httpStatus: 401 },
      });
    value = bodyValue(input, o.maxBodyBytes, "EventBridge event");
  } else {
    value = input;
  }
  if (Array.isArray(value)) throw invalid("pass one EventBridge event at a time");
  return o.processor.process(parseEventBridgeEvent(value, o.clock()));
}

export interface SnsHandlerOptions {
  processor: LifecycleProcessor;
  verifier: SnsVerifier;
  autoConfirm: boolean;
  fetch: FetchLike;
  confirmTimeoutMs: number;
  maxBodyBytes: number;
  logger: Logger;
}

/**
 * SNS: an HTTP request from SNS, or the envelope itself (an object, or the JSON text an SQS message
 * carries). Every message is verified before anything else happens.
 */
export async function handleSnsInput(input: unknown, o: SnsHandlerOptions): Promise<LifecycleOutcome> {
  let value: unknown;
  let headerType: string | undefined;
  if (typeof input === "string") {
    if (Buffer.byteLength(input, "utf8") > o.maxBodyBytes)
      throw invalidRequest("SNS message is too large", 413);
    value = parseJson(input, "SNS message");
  } else if (isIncomingRequest(input) && !("Type" in input)) {
    headerType = headerOf(input, "x-amz-sns-message-type");
    value = bodyValue(input, o.maxBodyBytes, "SNS message");
  } else {
    value = input;
  }
  const envelope = parseSnsEnvelope(value);
  if (headerType !== undefined && headerType !== envelope.Type)
    throw invalid("x-amz-sns-message-type header does not match the message Type");
  await o.verifier.verify(envelope);

  if (envelope.Type === "Notification") return o.processor.process(parseSnsNotification(envelope));
  if (envelope.Type === "UnsubscribeConfirmation")
    return o.processor.process({ ignored: "SNS UnsubscribeConfirmation", id: `sns:${envelope.MessageId}` });

  // SubscriptionConfirmation
  const url = envelope.SubscribeURL as string;
  if (!o.autoConfirm) {
    o.logger.warn(
      { topicArn: envelope.TopicArn },
      "SNS subscription needs confirmation: enable sns.autoConfirm or confirm it in the AWS console",
    );
    return {
      outcome: "confirmation-required",
      subscribeUrl: url,
      eventId: `sns:${envelope.MessageId}`,
      httpStatus: 200,
    };
  }
  if (!o.verifier.isTrustedSubscribeUrl(url))
    throw new MarketplaceError(
      "UNAUTHORIZED",
      "SNS SubscribeURL is not on a trusted SNS origin; not visited",
      {
        details: { httpStatus: 403 },
      },
    );
  try {
    const res = await o.fetch(url, {
      method: "GET",
      redirect: "error",
      signal: AbortSignal.timeout(o.confirmTimeoutMs),
    });
    await readLimited(res.body, 65_536);
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
  } catch (cause) {
    throw new MarketplaceError(
      "AWS_UNAVAILABLE",
      "confirming the SNS subscription failed; SNS will send the confirmation again",
      {
        cause,
        details: { httpStatus: 502 },
      },
    );
  }
  o.logger.info({ topicArn: envelope.TopicArn }, "SNS subscription confirmed");
  return { outcome: "confirmed", eventId: `sns:${envelope.MessageId}`, httpStatus: 200 };
}
