/**
 * `@marketmeter/emulator`: a local AWS Marketplace Metering Service and Entitlement Service that real
 * AWS clients (JS SDK v3, boto3, AWS CLI) talk to over HTTP, with a controllable clock, fault
 * injection, lifecycle notifications and an inspectable ledger.
 *
 * @example
 * import { startEmulator, demoConfig } from "@marketmeter/emulator";
 * const emu = await startEmulator({ config: demoConfig() });
 * console.log(emu.endpoint); // give this to the AWS client as `endpoint`
 */
export { formatCall } from "./api.js";
export { createClock, type EmulatorClock } from "./clock.js";
export {
  type Customer,
  type CustomerConfig,
  type CustomerStatus,
  DEFAULT_SELLER_ACCOUNT_ID,
  DEMO,
  demoConfig,
  type EmulatorConfig,
  type Entitlement,
  type EntitlementConfig,
  type EntitlementValue,
  type License,
  type LicenseConfig,
  loadConfig,
  type Product,
  type ProductConfig,
  type Token,
  type TokenConfig,
} from "./config.js";
export { EmulatorError, type EmulatorErrorCode, isEmulatorError } from "./errors.js";
export type {
  FaultConfig,
  FaultRecord,
  FaultTrigger,
  OperationFaults,
  RecordMatch,
  UnprocessedFault,
} from "./faults.js";
export { fulfillmentFormBody, postFulfillmentForm, type SetUpAccountResult } from "./marketplace/setup.js";
export {
  buildEventBridgeEvents,
  createNotifier,
  type DeliveryLog,
  eventBridgeDetailTypes,
  isLoopbackHost,
  isNotifierError,
  MARKETPLACE_TOPIC_ACCOUNT,
  type MarketplaceEvent,
  type Notifier,
  NotifierError,
  type NotifierOptions,
  type SnsEnvelope,
  snsStringToSign,
  toSqsBody,
  validateWebhooks,
} from "./notify/index.js";
export {
  DEFAULT_REGIONS,
  defaultProfile,
  OPERATIONS,
  type OperationName,
  type Profile,
  type ProfilePatch,
} from "./profile.js";
export { type Emulator, type StartEmulatorOptions, startEmulator } from "./server.js";
export {
  type BuyerRef,
  type BuyerState,
  EmulatorState,
  type EmulatorStateOptions,
  type LedgerFilter,
  type MintTokenInput,
  type SubscribeInput,
} from "./state.js";
export type {
  ApiCall,
  BilledRecord,
  DuplicateAttempt,
  LifecycleAction,
  LifecycleNotification,
  RejectedRequest,
  WebhookConfig,
} from "./types.js";
export { BillingPageError, type BillingPageInput, renderBillingPage } from "./ui/index.js";

/**
 * Creates the emulator's state without a server (fixtures, clock, ledger, lifecycle), e.g. to inspect a
 * config or drive the state machine in unit tests.
 *
 * @example
 * const state = createEmulatorState({ config: demoConfig() });
 * state.clock.advance(3_600_000);
 */
export function createEmulatorState(options: EmulatorStateOptions = {}): EmulatorState {
  return new EmulatorState(options);
}

import { EmulatorState, type EmulatorStateOptions } from "./state.js";
