/** Access decisions: synchronous, O(1), from the customer directory's in-memory cache. */
export { decideAccess, deny, DENIAL_HTTP_STATUS } from "./decide.js";
export type {
  AccessAllowed,
  AccessDecision,
  AccessDenialReason,
  AccessDenied,
  DecideOptions,
} from "./decide.js";
