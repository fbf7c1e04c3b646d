/** The fulfillment URL: read the token, resolve the buyer, keep a pending registration, link it to a tenant. */

export { awsErrorInfo, isTransientAwsError, toAwsError } from "./aws-errors.js";
export type { RegistrarOptions } from "./registrar.js";
export { Registrar, randomId } from "./registrar.js";
export type { BodyContent, IncomingRequest, RequestHeaders } from "./request.js";
export { headerOf, invalidRequest, isIncomingRequest, mediaTypeOf, queryParam, readBody } from "./request.js";
export type { RegistrationForm } from "./token.js";
export {
  BUYER_RETRY_HINT,
  hashToken,
  OFFER_TYPE_FIELD,
  parseRegistrationForm,
  TOKEN_FIELD,
} from "./token.js";
