/** Access decisions: synchronous, O(1), from the customer directory's in-memory cache. */

export type {
  AccessAllowed,
  AccessDecision,
  AccessDenialReason,
  AccessDenied,
  DecideOptions,
} from "./decide.js";
export { DENIAL_HTTP_STATUS, decideAccess, deny } from "./decide.js";
