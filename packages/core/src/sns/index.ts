/** Authenticity checks for Amazon SNS HTTP(S) messages (signature, certificate origin, topic, age). */

export type { FetchLike } from "./certificates.js";
export { readLimited } from "./certificates.js";
export type { SnsEnvelope, SnsMessageType } from "./envelope.js";
export { parseSnsEnvelope, snsStringToSign } from "./envelope.js";
export { isTrustedSnsUrl, normalizeOrigins } from "./origins.js";
export type { SnsTopicOwner, SnsVerifier, SnsVerifierOptions } from "./verifier.js";
export { createSnsVerifier, DEFAULT_MAX_CLOCK_SKEW_MS, MARKETPLACE_TOPIC_OWNER } from "./verifier.js";
