/** The fulfillment URL: read the token, resolve the buyer, keep a pending registration, link it to a tenant. */
export { Registrar, randomId } from "./registrar.js";
export type { RegistrarOptions } from "./registrar.js";
export {
  parseRegistrationForm,
  hashToken,
  TOKEN_FIELD,
  OFFER_TYPE_FIELD,
  BUYER_RETRY_HINT,
} from "./token.js";
export type { RegistrationForm } from "./token.js";
export { headerOf, isIncomingRequest, mediaTypeOf, queryParam, readBody, invalidRequest } from "./request.js";
export type { IncomingRequest, RequestHeaders, BodyContent } from "./request.js";
export { toAwsError, isTransientAwsError, awsErrorInfo } from "./aws-errors.js";
