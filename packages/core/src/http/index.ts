/**
 * The framework-free HTTP layer under the Express, Koa and Hono adapters: everything two adapters would
 * otherwise duplicate. Adapters only translate their request into these calls and write the answers back.
 */

export type { Guard, GuardResult, RequireSubscriptionOptions } from "./access.js";
export { createGuard } from "./access.js";
export type { ParsedBody } from "./body.js";
export { readNodeBody, readWebBody } from "./body.js";
export { subjectOf } from "./customer.js";
export type { Awaitable, Meter, MeterSpec, MeterState, MeterUsageOptions, QuantitySpec } from "./metering.js";
export {
  applyMeterSpec,
  createMeter,
  DEFAULT_METER_STATE,
  findMeterState,
  firstToFinish,
  METER_STATE,
  meterStateOf,
  parseMeterSpec,
  skipMeteringOf,
} from "./metering.js";
export type { Problem, ProblemError } from "./problem.js";
export {
  escapeHtml,
  PROBLEM_JSON,
  prefersJson,
  problem,
  problemError,
  problemFromError,
  problemOf,
  problemPage,
  problemResponse,
  statusTitle,
} from "./problem.js";
export type { RegistrationHandlerOptions, ResolvedRegistrationOptions } from "./registration.js";
export {
  handleRegistration,
  registrationError,
  resolveRegistrationOptions,
  withQueryParam,
} from "./registration.js";
export type { Route, RouteExchange, RouteKind, RouteOptions } from "./route.js";
export { acceptOf, createRoute } from "./route.js";
export type { HttpSettings } from "./settings.js";
export { declareHttpSettings, httpSettingsOf } from "./settings.js";
export type { ClosableServer, CloseOnShutdownOptions } from "./shutdown.js";
export { closeOnShutdown } from "./shutdown.js";
export type {
  AccessTarget,
  ClosableTarget,
  CustomerRef,
  HttpResult,
  LifecycleTarget,
  MeteringTarget,
  RegistrationTarget,
  TenantRef,
} from "./types.js";
// The usage views' front door lists its public names itself.
export * from "./usage/index.js";
export type { ResolvedWebhookOptions, WebhookHandlerOptions, WebhookKind } from "./webhooks.js";
export { handleWebhook, resolveWebhookOptions, webhookError } from "./webhooks.js";

/** Brand under which adapters keep the access decision of a request. */
export const SUBSCRIPTION_KEY: unique symbol = Symbol.for("marketmeter.subscription") as never;
