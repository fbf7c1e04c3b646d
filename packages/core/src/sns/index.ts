/** Authenticity checks for Amazon SNS HTTP(S) messages (signature, certificate origin, topic, age). */
export { createSnsVerifier } from "./verifier.js";
export type { SnsVerifier, SnsVerifierOptions } from "./verifier.js";
export { parseSnsEnvelope, snsStringToSign } from "./envelope.js";
export type { SnsEnvelope, SnsMessageType } from "./envelope.js";
export { isTrustedSnsUrl, normalizeOrigins } from "./origins.js";
export { readLimited } from "./certificates.js";
export type { FetchLike } from "./certificates.js";
