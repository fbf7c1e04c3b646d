// Public API of @marketmeter/core. Each concern has its own folder with an index.ts front door.
export { MarketplaceError, isMarketplaceError } from "./errors/index.js";
export type { MarketplaceErrorCode, MarketplaceErrorOptions } from "./errors/index.js";
export {
  parseIdentity,
  identityKey,
  identityFromKey,
  identityMode,
  isValidAccountId,
  isValidLicenseArn,
  isValidProductCode,
  licenseIdOf,
} from "./identity/index.js";
export type {
  Identity,
  IdentityInput,
  IdentityMode,
  LegacyIdentity,
  AccountIdentity,
  LicenseIdentity,
} from "./identity/index.js";
export { systemClock, silentLogger, hourStart, HOUR_MS } from "./runtime/index.js";
export type { Clock, Logger } from "./runtime/index.js";
