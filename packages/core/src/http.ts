// Entry `@marketmeter/core/http`: the framework-free HTTP layer for people who write a framework adapter.
// App authors import from the main entry, or from their framework's package.

export type { AccessAllowed, AccessDecision, AccessDenialReason, AccessDenied } from "./access/index.js";
export { DENIAL_HTTP_STATUS } from "./access/index.js";
export * from "./http/index.js";
export type { IncomingRequest, RegistrationForm, RequestHeaders } from "./registration/index.js";
export { parseRegistrationForm } from "./registration/index.js";
export type { FetchLike, SnsEnvelope, SnsTopicOwner, SnsVerifier, SnsVerifierOptions } from "./sns/index.js";
export { createSnsVerifier, parseSnsEnvelope, snsStringToSign } from "./sns/index.js";
