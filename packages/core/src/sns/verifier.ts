import { verify as verifySignature } from "node:crypto";
import { MarketplaceError } from "../errors/index.js";
import { type Clock, systemClock } from "../runtime/index.js";
import { CertificateCache, type FetchLike } from "./certificates.js";
import { type SnsEnvelope, snsStringToSign } from "./envelope.js";
import { isTrustedSnsUrl, normalizeOrigins } from "./origins.js";

/**
 * How SNS messages are authenticated.
 *
 * @example
 * createSnsVerifier({ productCodes: ["pleg1234567890abcdefghijk"] })
 * // the local emulator signs with its own certificate:
 * createSnsVerifier({ productCodes: [...], trustedCertificateOrigins: [emulator.endpoint] })
 */
export interface SnsVerifierOptions {
  /**
   * Exact topic ARNs to accept. When left out, the AWS Marketplace topics of `productCodes` are accepted
   * (`…:aws-mp-subscription-notification-<code>` and `…:aws-mp-entitlement-notification-<code>`).
   * @default derived from productCodes
   */
  topicArns?: readonly string[];
  /** Product codes whose AWS Marketplace topics are accepted when `topicArns` is not given. */
  productCodes?: readonly string[];
  /**
   * Who owns the AWS Marketplace topics derived from `productCodes`. SNS signs every topic of a Region
   * with the same certificate, so only the topic's owner tells AWS Marketplace's topics from look-alikes.
   * Change it for the emulator or tests; the China and GovCloud partitions are accepted only when set here
   * (or listed in `topicArns`), since AWS documents no Marketplace account for them.
   * @default { partition: "aws", region: "us-east-1", accountId: "287250355862" }
   */
  topicOwner?: SnsTopicOwner;
  /**
   * Origins (`scheme://host[:port]`) trusted to serve signing certificates and confirmation links, in
   * addition to `https://sns.<region>.amazonaws.com[.cn]`. Use it for the local emulator only.
   * @default []
   */
  trustedCertificateOrigins?: readonly string[];
  /** Messages whose `Timestamp` is older than this are rejected (replay protection). @default 3600000 */
  maxMessageAgeMs?: number;
  /** Messages dated further than this in the future are rejected. @default 300000 */
  maxClockSkewMs?: number;
  /** Used to download certificates. @default globalThis.fetch */
  fetch?: FetchLike;
  /** Timeout of one certificate download. @default 5000 */
  certificateTimeoutMs?: number;
  /** Largest certificate accepted, in bytes. @default 65536 */
  maxCertificateBytes?: number;
  /** Certificates kept in memory. @default 32 */
  certificateCacheSize?: number;
  /** How long a certificate is kept. @default 86400000 (24 h) */
  certificateCacheTtlMs?: number;
  /** @default Date.now */
  clock?: Clock;
  /** Real time against which certificate validity dates are checked. @default Date.now */
  certificateClock?: Clock;
}

/** The account (and where) that owns the AWS Marketplace SNS topics. */
export interface SnsTopicOwner {
  /** 12-digit AWS account id. */
  accountId: string;
  /** @default "us-east-1" */
  region?: string;
  /** @default "aws" */
  partition?: "aws" | "aws-cn" | "aws-us-gov";
}

/** AWS Marketplace publishes its seller topics from this account, in us-east-1 of the `aws` partition. */
export const MARKETPLACE_TOPIC_OWNER: Readonly<Required<SnsTopicOwner>> = Object.freeze({
  partition: "aws",
  region: "us-east-1",
  accountId: "287250355862",
});

/** How far ahead of the clock a notification may be dated (clock skew), in ms. */
export const DEFAULT_MAX_CLOCK_SKEW_MS = 300_000;

export interface SnsVerifier {
  /**
   * Verifies topic, certificate origin, age and signature, in that order (nothing is fetched before the
   * cheap checks pass). Resolves with the envelope; throws `UNAUTHORIZED` (bad topic, origin or signature)
   * or `INVALID_NOTIFICATION` (stale or malformed).
   */
  verify(envelope: SnsEnvelope): Promise<SnsEnvelope>;
  isAllowedTopic(topicArn: string): boolean;
  /** Whether a SubscribeURL may be visited (same origin rules as certificates). */
  isTrustedSubscribeUrl(url: string): boolean;
  /** Downloads made so far (a cache hit does not count). */
  readonly certificateFetches: number;
}

const PARTITIONS: readonly string[] = ["aws", "aws-cn", "aws-us-gov"];
const REGION = /^[a-z]{2}(?:-[a-z]+)+-\d{1,2}$/;

function topicOwner(value: unknown): Required<SnsTopicOwner> {
  if (value === undefined) return MARKETPLACE_TOPIC_OWNER;
  const v = (typeof value === "object" && value !== null ? value : {}) as Record<string, unknown>;
  const owner = {
    partition: v.partition ?? MARKETPLACE_TOPIC_OWNER.partition,
    region: v.region ?? MARKETPLACE_TOPIC_OWNER.region,
    accountId: v.accountId,
  };
  if (
    typeof value !== "object" ||
    value === null ||
    typeof owner.accountId !== "string" ||
    !/^\d{12}$/.test(owner.accountId) ||
    typeof owner.region !== "string" ||
    !REGION.test(owner.region) ||
    typeof owner.partition !== "string" ||
    !PARTITIONS.includes(owner.partition)
  )
    throw new MarketplaceError(
      "INVALID_CONFIG",
      'sns.topicOwner must be { accountId: "<12 digits>", region?: "us-east-1", partition?: "aws" | "aws-cn" | "aws-us-gov" }',
    );
  return owner as Required<SnsTopicOwner>;
}

function positive(value: unknown, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1)
    throw new MarketplaceError("INVALID_CONFIG", `${name} must be a positive integer`);
  return value;
}

function unauthorized(message: string, details: Record<string, unknown> = {}): MarketplaceError {
  return new MarketplaceError("UNAUTHORIZED", message, { details: { httpStatus: 403, ...details } });
}

/**
 * Builds the SNS authenticity checks: SignatureVersion 1 (SHA1withRSA) and 2 (SHA256withRSA) over the
 * canonical string, certificates only from trusted origins, topic allow-list and a maximum message age.
 * Throws `INVALID_CONFIG` when neither topics nor product codes are given.
 *
 * @example
 * const verifier = createSnsVerifier({ productCodes: ["pleg1234567890abcdefghijk"] })
 * await verifier.verify(parseSnsEnvelope(JSON.parse(body)))
 */
export function createSnsVerifier(options: SnsVerifierOptions): SnsVerifier {
  const clock = options.clock ?? systemClock;
  const maxAge = positive(options.maxMessageAgeMs, "sns.maxMessageAgeMs", 3_600_000);
  const maxSkew = positive(options.maxClockSkewMs, "sns.maxClockSkewMs", DEFAULT_MAX_CLOCK_SKEW_MS);
  const origins = normalizeOrigins(options.trustedCertificateOrigins, "sns.trustedCertificateOrigins");
  let topics: ReadonlySet<string> | undefined;
  if (options.topicArns !== undefined) {
    if (
      !Array.isArray(options.topicArns) ||
      options.topicArns.some((t) => typeof t !== "string" || !t.startsWith("arn:"))
    )
      throw new MarketplaceError("INVALID_CONFIG", "sns.topicArns must be an array of SNS topic ARNs");
    topics = new Set(options.topicArns);
  }
  const codes = new Set(options.productCodes ?? []);
  const owner = topicOwner(options.topicOwner);
  const topicPrefix = `arn:${owner.partition}:sns:${owner.region}:${owner.accountId}:`;
  if (!topics && codes.size === 0)
    throw new MarketplaceError(
      "INVALID_CONFIG",
      "SNS needs an allow-list: give sns.topicArns, or configure products so their AWS Marketplace topics are accepted",
    );
  const fetchImpl = options.fetch ?? (globalThis.fetch as unknown as FetchLike | undefined);
  if (typeof fetchImpl !== "function")
    throw new MarketplaceError("INVALID_CONFIG", "sns.fetch must be a function (no global fetch available)");
  const certificates = new CertificateCache({
    fetch: fetchImpl,
    clock,
    ...(options.certificateClock ? { certificateClock: options.certificateClock } : {}),
    timeoutMs: positive(options.certificateTimeoutMs, "sns.certificateTimeoutMs", 5_000),
    maxBytes: positive(options.maxCertificateBytes, "sns.maxCertificateBytes", 65_536),
    maxEntries: positive(options.certificateCacheSize, "sns.certificateCacheSize", 32),
    ttlMs: positive(options.certificateCacheTtlMs, "sns.certificateCacheTtlMs", 86_400_000),
  });

  const isAllowedTopic = (arn: string): boolean => {
    if (topics) return topics.has(arn);
    if (typeof arn !== "string" || !arn.startsWith(topicPrefix)) return false;
    const m = /^aws-mp-(?:subscription|entitlement)-notification-(.+)$/.exec(arn.slice(topicPrefix.length));
    return m !== null && codes.has(m[1] as string);
  };

  return {
    isAllowedTopic,
    isTrustedSubscribeUrl: (url) => isTrustedSnsUrl(url, origins, "subscribe"),
    get certificateFetches() {
      return certificates.fetches;
    },
    async verify(envelope) {
      if (!isAllowedTopic(envelope.TopicArn))
        throw unauthorized("SNS message from a topic that is not allowed", {
          topicArn: envelope.TopicArn.slice(0, 256),
        });
      if (!isTrustedSnsUrl(envelope.SigningCertURL, origins, "certificate"))
        throw unauthorized(
          "SNS SigningCertURL is not a trusted SNS certificate URL (add its origin to sns.trustedCertificateOrigins to trust it)",
        );
      const sent = Date.parse(envelope.Timestamp);
      if (!Number.isFinite(sent))
        throw new MarketplaceError("INVALID_NOTIFICATION", "SNS Timestamp is not a valid date", {
          details: { httpStatus: 400 },
        });
      const now = clock();
      if (now - sent > maxAge)
        throw new MarketplaceError(
          "INVALID_NOTIFICATION",
          "SNS message is too old (possible replay); it was ignored",
          {
            details: { httpStatus: 400, reason: "stale", ageMs: now - sent },
          },
        );
      if (sent - now > maxSkew)
        throw new MarketplaceError("INVALID_NOTIFICATION", "SNS message is dated in the future", {
          details: { httpStatus: 400, reason: "future" },
        });
      const signature = Buffer.from(envelope.Signature, "base64");
      if (signature.length === 0) throw unauthorized("SNS signature is empty");
      const key = await certificates.get(envelope.SigningCertURL);
      let ok = false;
      try {
        ok = verifySignature(
          envelope.SignatureVersion === "1" ? "sha1" : "sha256",
          Buffer.from(snsStringToSign(envelope), "utf8"),
          key,
          signature,
        );
      } catch {
        ok = false;
      }
      if (!ok) throw unauthorized("SNS signature does not verify");
      return envelope;
    },
  };
}
