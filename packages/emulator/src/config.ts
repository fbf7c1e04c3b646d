import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { toEpochMs } from "./clock.js";
import { invalidConfig, isEmulatorError } from "./errors.js";
import type { FaultConfig } from "./faults.js";
import type { ProfilePatch } from "./profile.js";
import type { WebhookConfig } from "./types.js";

/** A product listed by a seller. */
export interface ProductConfig {
  /** Marketplace product code (1–255 chars of `[-a-zA-Z0-9/=:_.@]`). */
  productCode: string;
  /** Product id (`prod-…`) used in EventBridge events. @default derived from the product code */
  productId?: string;
  /**
   * "concurrent-agreements" (metered by LicenseArn, no CustomerIdentifier) or "legacy"
   * (ProductCode + CustomerIdentifier/CustomerAWSAccountId; may also have licenses once opted in).
   * @default "concurrent-agreements"
   */
  kind?: "concurrent-agreements" | "legacy";
  /** Metering dimension keys (case-sensitive). */
  dimensions: string[];
  /** @default "usage" */
  pricing?: "usage" | "contract";
  /** Account that owns the product; another seller's product lets you test foreign tokens. @default the emulator's seller */
  sellerAccountId?: string;
}

/** A Concurrent-Agreements license of a buyer. */
export interface LicenseConfig {
  licenseArn: string;
  customerAWSAccountId: string;
  productCode: string;
  /**
   * "active" (activated, default), "pending" (agreement created, license not yet activated) or
   * "deprovisioned" (needs `deprovisionedAt`).
   * @default "active"
   */
  status?: "active" | "pending" | "deprovisioned";
  /** When the license became active (ISO 8601). @default the Unix epoch for "active"/"deprovisioned" */
  activatedAt?: string;
  /** When `License Deprovisioned` happened (ISO 8601). */
  deprovisionedAt?: string;
  /** When `Purchase Agreement Ended` happened (ISO 8601); only meaningful with deprovisionOrder "afterWindow". */
  agreementEndedAt?: string;
  /** @default false */
  suspended?: boolean;
  /** @default derived from the license ARN */
  agreementId?: string;
  /** @default derived from the license ARN */
  offerId?: string;
}

/** Subscription state of a legacy (SNS-era) customer. */
export type CustomerStatus =
  | "subscribed"
  | "unsubscribe-pending"
  | "unsubscribed"
  | "subscribe-failed"
  | "pending";

/** A legacy customer of a product (known by CustomerIdentifier). */
export interface CustomerConfig {
  customerIdentifier: string;
  customerAWSAccountId: string;
  productCode: string;
  /** @default "subscribed" */
  status?: CustomerStatus;
  /** For "unsubscribe-pending": when the buyer cancelled (the final window runs from here). @default the clock start */
  unsubscribedAt?: string;
  /** @default false */
  suspended?: boolean;
  /** License ARN ResolveCustomer also returns for this customer. @default derived from the identifier */
  licenseArn?: string;
}

/** A registration token (`x-amzn-marketplace-token`) the emulator will resolve. */
export interface TokenConfig {
  token: string;
  /** Resolve to this license (Concurrent Agreements). */
  licenseArn?: string;
  /** Resolve to this legacy customer. */
  customerIdentifier?: string;
  /** With `customerAWSAccountId`: a token for a product with no license/customer fixture (e.g. another seller's). */
  productCode?: string;
  customerAWSAccountId?: string;
  /** When AWS issued the token (ISO 8601). @default the clock start */
  issuedAt?: string;
}

/** An entitlement value of a contract product. */
export type EntitlementValue =
  | { IntegerValue: number }
  | { DoubleValue: number }
  | { BooleanValue: boolean }
  | { StringValue: string };

export interface EntitlementConfig {
  productCode: string;
  dimension: string;
  customerAWSAccountId?: string;
  customerIdentifier?: string;
  licenseArn?: string;
  /** A number (integer → IntegerValue, else DoubleValue), boolean, string, or an explicit value object. */
  value: number | boolean | string | EntitlementValue;
  /** ISO 8601; omitted means no expiration date in the answer. */
  expirationDate?: string;
}

/**
 * Everything the emulator can be seeded with. Every field is optional; a JSON file with this shape can be
 * passed to `startEmulator({ config: "file.json" })` or `marketmeter-emulator --config file.json`.
 */
export interface EmulatorConfig {
  /** The calling (publishing) seller account. @default "111122223333" */
  sellerAccountId?: string;
  products?: ProductConfig[];
  licenses?: LicenseConfig[];
  customers?: CustomerConfig[];
  entitlements?: EntitlementConfig[];
  tokens?: TokenConfig[];
  profile?: ProfilePatch;
  faults?: FaultConfig;
  webhooks?: WebhookConfig;
  /** Clock start (ISO 8601) and whether it is frozen. @default real time, ticking */
  clock?: { start?: string; frozen?: boolean };
  /** Buyer account assumed for MeterUsage/RegisterUsage callers that send no `x-emu-account-id` header. */
  defaultBuyerAccountId?: string;
}

const PRODUCT_CODE = /^[-a-zA-Z0-9/=:_.@]*$/;
/** The model's LicenseArn pattern. */
export const LICENSE_ARN =
  /^arn:aws[a-zA-Z-]*:[A-Za-z0-9][A-Za-z0-9_/.-]{0,62}:[A-Za-z0-9_/.-]{0,63}:[A-Za-z0-9_/.-]{0,63}:[A-Za-z0-9][A-Za-z0-9:_/+=,@.-]{0,1023}$/;
const ACCOUNT = /^[0-9]+$/;

export const DEFAULT_SELLER_ACCOUNT_ID = "111122223333";

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

type StrOptions = { pattern?: RegExp; max?: number; min?: number };
/** A required string (a missing one is a configuration error), or an optional one with `optional: true`. */
function str(path: string, v: unknown, opts?: StrOptions & { optional?: false }): string;
function str(path: string, v: unknown, opts: StrOptions & { optional: true }): string | undefined;
function str(path: string, v: unknown, opts: StrOptions & { optional?: boolean } = {}): string | undefined {
  if (v === undefined && opts.optional) return undefined;
  if (typeof v !== "string") throw invalidConfig(`${path} must be a string`);
  if (v.length < (opts.min ?? 1)) throw invalidConfig(`${path} must not be empty`);
  if (opts.max !== undefined && v.length > opts.max)
    throw invalidConfig(`${path} must be at most ${opts.max} characters`);
  if (opts.pattern && !opts.pattern.test(v))
    throw invalidConfig(`${path} must match ${opts.pattern}; got "${v}"`);
  return v;
}

function time(path: string, v: unknown): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string" && typeof v !== "number" && !(v instanceof Date)) {
    throw invalidConfig(`${path} must be an ISO 8601 time`);
  }
  try {
    return toEpochMs(v, path);
  } catch {
    throw invalidConfig(`${path} must be an ISO 8601 time; got ${JSON.stringify(v)}`);
  }
}

function oneOf<T extends string>(path: string, v: unknown, allowed: readonly T[], fallback: T): T {
  if (v === undefined) return fallback;
  if (typeof v !== "string" || !(allowed as readonly string[]).includes(v)) {
    throw invalidConfig(`${path} must be one of ${allowed.map((a) => `"${a}"`).join(", ")}`);
  }
  return v as T;
}

function bool(path: string, v: unknown): boolean {
  if (v === undefined) return false;
  if (typeof v !== "boolean") throw invalidConfig(`${path} must be true or false`);
  return v;
}

const hex = (s: string, n: number) => createHash("sha256").update(s).digest("hex").slice(0, n);

/** Runtime form of a product. */
export interface Product {
  productCode: string;
  productId: string;
  kind: "concurrent-agreements" | "legacy";
  dimensions: string[];
  pricing: "usage" | "contract";
  sellerAccountId: string;
}

/** Runtime form of a license (times in epoch ms). */
export interface License {
  licenseArn: string;
  customerAWSAccountId: string;
  productCode: string;
  activatedAt?: number;
  agreementEndedAt?: number;
  deprovisionedAt?: number;
  suspended: boolean;
  agreementId: string;
  offerId: string;
}

/** Runtime form of a legacy customer. */
export interface Customer {
  customerIdentifier: string;
  customerAWSAccountId: string;
  productCode: string;
  status: CustomerStatus;
  unsubscribedAt?: number;
  suspended: boolean;
  licenseArn: string;
}

/** Runtime form of a token. */
export interface Token {
  token: string;
  productCode: string;
  customerAWSAccountId: string;
  licenseArn?: string;
  customerIdentifier?: string;
  issuedAt: number;
}

/** Runtime form of an entitlement. */
export interface Entitlement {
  productCode: string;
  dimension: string;
  customerAWSAccountId?: string;
  customerIdentifier?: string;
  licenseArn?: string;
  value: EntitlementValue;
  expirationDate?: number;
}

export function parseProduct(v: unknown, path: string, sellerAccountId: string): Product {
  if (!isObject(v)) throw invalidConfig(`${path} must be an object`);
  const productCode = str(`${path}.productCode`, v.productCode, { pattern: PRODUCT_CODE, max: 255 });
  if (!Array.isArray(v.dimensions) || v.dimensions.length === 0) {
    throw invalidConfig(`${path}.dimensions must be a non-empty array of dimension keys`);
  }
  const dimensions = v.dimensions.map((d, i) => str(`${path}.dimensions[${i}]`, d, { max: 255 }));
  return {
    productCode,
    productId: str(`${path}.productId`, v.productId, { optional: true }) ?? `prod-${hex(productCode, 13)}`,
    kind: oneOf(
      `${path}.kind`,
      v.kind,
      ["concurrent-agreements", "legacy"] as const,
      "concurrent-agreements",
    ),
    dimensions,
    pricing: oneOf(`${path}.pricing`, v.pricing, ["usage", "contract"] as const, "usage"),
    sellerAccountId:
      str(`${path}.sellerAccountId`, v.sellerAccountId, { optional: true, pattern: ACCOUNT }) ??
      sellerAccountId,
  };
}

export function parseLicense(v: unknown, path: string): License {
  if (!isObject(v)) throw invalidConfig(`${path} must be an object`);
  const licenseArn = str(`${path}.licenseArn`, v.licenseArn, { pattern: LICENSE_ARN });
  const status = oneOf(`${path}.status`, v.status, ["active", "pending", "deprovisioned"] as const, "active");
  let activatedAt = time(`${path}.activatedAt`, v.activatedAt);
  const deprovisionedAt = time(`${path}.deprovisionedAt`, v.deprovisionedAt);
  if (status !== "pending" && activatedAt === undefined) activatedAt = 0;
  if (status === "pending") activatedAt = undefined;
  if (status === "deprovisioned" && deprovisionedAt === undefined) {
    throw invalidConfig(`${path}: status "deprovisioned" needs deprovisionedAt`);
  }
  const id = hex(licenseArn, 25);
  return {
    licenseArn,
    customerAWSAccountId: str(`${path}.customerAWSAccountId`, v.customerAWSAccountId, {
      pattern: ACCOUNT,
      max: 255,
    }),
    productCode: str(`${path}.productCode`, v.productCode, { pattern: PRODUCT_CODE, max: 255 }),
    activatedAt,
    deprovisionedAt,
    agreementEndedAt: time(`${path}.agreementEndedAt`, v.agreementEndedAt),
    suspended: bool(`${path}.suspended`, v.suspended),
    agreementId: str(`${path}.agreementId`, v.agreementId, { optional: true }) ?? `agmt-${id}`,
    offerId: str(`${path}.offerId`, v.offerId, { optional: true }) ?? `offer-${id}`,
  };
}

export function parseCustomer(v: unknown, path: string, defaultTime: number): Customer {
  if (!isObject(v)) throw invalidConfig(`${path} must be an object`);
  const customerIdentifier = str(`${path}.customerIdentifier`, v.customerIdentifier, { max: 255 });
  const status = oneOf(
    `${path}.status`,
    v.status,
    ["subscribed", "unsubscribe-pending", "unsubscribed", "subscribe-failed", "pending"] as const,
    "subscribed",
  );
  return {
    customerIdentifier,
    customerAWSAccountId: str(`${path}.customerAWSAccountId`, v.customerAWSAccountId, {
      pattern: ACCOUNT,
      max: 255,
    }),
    productCode: str(`${path}.productCode`, v.productCode, { pattern: PRODUCT_CODE, max: 255 }),
    status,
    unsubscribedAt:
      time(`${path}.unsubscribedAt`, v.unsubscribedAt) ??
      (status === "unsubscribe-pending" ? defaultTime : undefined),
    suspended: bool(`${path}.suspended`, v.suspended),
    licenseArn:
      str(`${path}.licenseArn`, v.licenseArn, { optional: true, pattern: LICENSE_ARN }) ??
      `arn:aws:license-manager::294406891311:license:l-${hex(customerIdentifier, 32)}`,
  };
}

export function parseEntitlement(v: unknown, path: string): Entitlement {
  if (!isObject(v)) throw invalidConfig(`${path} must be an object`);
  const raw = v.value;
  let value: EntitlementValue;
  if (typeof raw === "number" && Number.isFinite(raw)) {
    value = Number.isInteger(raw) ? { IntegerValue: raw } : { DoubleValue: raw };
  } else if (typeof raw === "boolean") value = { BooleanValue: raw };
  else if (typeof raw === "string") value = { StringValue: raw };
  else if (isObject(raw) && Object.keys(raw).length === 1) {
    const [k, x] = Object.entries(raw)[0] ?? [];
    const ok =
      (k === "IntegerValue" && Number.isInteger(x)) ||
      (k === "DoubleValue" && typeof x === "number" && Number.isFinite(x)) ||
      (k === "BooleanValue" && typeof x === "boolean") ||
      (k === "StringValue" && typeof x === "string");
    if (!ok) throw invalidConfig(`${path}.value: ${k} has the wrong type`);
    value = raw as EntitlementValue;
  } else {
    throw invalidConfig(
      `${path}.value must be a number, boolean, string or one of {IntegerValue|DoubleValue|BooleanValue|StringValue}`,
    );
  }
  const e: Entitlement = {
    productCode: str(`${path}.productCode`, v.productCode, { pattern: PRODUCT_CODE, max: 255 }),
    dimension: str(`${path}.dimension`, v.dimension, { max: 255 }),
    customerAWSAccountId: str(`${path}.customerAWSAccountId`, v.customerAWSAccountId, {
      optional: true,
      pattern: ACCOUNT,
    }),
    customerIdentifier: str(`${path}.customerIdentifier`, v.customerIdentifier, { optional: true, max: 255 }),
    licenseArn: str(`${path}.licenseArn`, v.licenseArn, { optional: true, pattern: LICENSE_ARN }),
    value,
    expirationDate: time(`${path}.expirationDate`, v.expirationDate),
  };
  if (!e.customerAWSAccountId && !e.customerIdentifier && !e.licenseArn) {
    throw invalidConfig(`${path} needs customerAWSAccountId, customerIdentifier or licenseArn`);
  }
  return e;
}

/** Token fixture before it is linked to a license/customer (done by the state, which knows them). */
export interface TokenInput {
  token: string;
  licenseArn?: string;
  customerIdentifier?: string;
  productCode?: string;
  customerAWSAccountId?: string;
  issuedAt?: number;
}

export function parseTokenInput(v: unknown, path: string): TokenInput {
  if (!isObject(v)) throw invalidConfig(`${path} must be an object`);
  const t: TokenInput = {
    token: str(`${path}.token`, v.token),
    licenseArn: str(`${path}.licenseArn`, v.licenseArn, { optional: true, pattern: LICENSE_ARN }),
    customerIdentifier: str(`${path}.customerIdentifier`, v.customerIdentifier, { optional: true, max: 255 }),
    productCode: str(`${path}.productCode`, v.productCode, {
      optional: true,
      pattern: PRODUCT_CODE,
      max: 255,
    }),
    customerAWSAccountId: str(`${path}.customerAWSAccountId`, v.customerAWSAccountId, {
      optional: true,
      pattern: ACCOUNT,
    }),
    issuedAt: time(`${path}.issuedAt`, v.issuedAt),
  };
  if (!t.licenseArn && !t.customerIdentifier && !(t.productCode && t.customerAWSAccountId)) {
    throw invalidConfig(
      `${path} needs licenseArn, customerIdentifier, or productCode + customerAWSAccountId`,
    );
  }
  return t;
}

/** Reads a JSON config file (or returns the object), checking its outer shape; details are checked on load. */
export function loadConfig(config: EmulatorConfig | string | undefined): EmulatorConfig {
  if (config === undefined) return {};
  if (typeof config === "string") {
    let text: string;
    try {
      text = readFileSync(config, "utf8");
    } catch (err) {
      throw invalidConfig(`cannot read config file ${config}: ${(err as Error).message}`);
    }
    try {
      config = JSON.parse(text) as EmulatorConfig;
    } catch (err) {
      throw invalidConfig(`config file ${config} is not valid JSON: ${(err as Error).message}`);
    }
  }
  if (!isObject(config)) throw invalidConfig("config must be an object");
  const known = [
    "sellerAccountId",
    "products",
    "licenses",
    "customers",
    "entitlements",
    "tokens",
    "profile",
    "faults",
    "webhooks",
    "clock",
    "defaultBuyerAccountId",
    "$schema",
  ];
  for (const key of Object.keys(config)) {
    if (!known.includes(key))
      throw invalidConfig(`config: unknown key "${key}"; known: ${known.slice(0, -1).join(", ")}`);
  }
  for (const key of ["products", "licenses", "customers", "entitlements", "tokens"] as const) {
    const list = (config as Record<string, unknown>)[key];
    if (list !== undefined && !Array.isArray(list)) throw invalidConfig(`config.${key} must be an array`);
  }
  if (config.sellerAccountId !== undefined)
    str("config.sellerAccountId", config.sellerAccountId, { pattern: ACCOUNT });
  if (config.defaultBuyerAccountId !== undefined) {
    str("config.defaultBuyerAccountId", config.defaultBuyerAccountId, { pattern: ACCOUNT });
  }
  if (config.clock !== undefined) {
    if (!isObject(config.clock)) throw invalidConfig("config.clock must be an object");
    time("config.clock.start", config.clock.start);
    bool("config.clock.frozen", config.clock.frozen);
  }
  return config;
}

/** Wraps a validation failure of a nested part so the message names the config path. */
export function withPath<T>(path: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (isEmulatorError(err)) throw invalidConfig(`${path}: ${err.message}`);
    throw err;
  }
}

/** Fixture names and values of {@link demoConfig} (the fixtures the emulator's tests and BEHAVIOURS.md use). */
export const DEMO = {
  sellerAccountId: "111122223333",
  otherSellerAccountId: "999988887777",
  P_CA: "pca1234567890abcdefghijkl",
  P_OTHER: "poth1234567890abcdefghijk",
  P_L: "pleg1234567890abcdefghijk",
  P_FOREIGN: "pfor1234567890abcdefghijk",
  A1: "123456789012",
  A2: "210987654321",
  A3: "333344445555",
  L1: "arn:aws:license-manager::294406891311:license:l-0123456789abcdef0123456789abcdef",
  L2: "arn:aws:license-manager::294406891311:license:l-1123456789abcdef0123456789abcdef",
  L3: "arn:aws:license-manager::294406891311:license:l-2123456789abcdef0123456789abcdef",
  L4: "arn:aws:license-manager::294406891311:license:l-3123456789abcdef0123456789abcdef",
  L5: "arn:aws:license-manager::294406891311:license:l-4123456789abcdef0123456789abcdef",
  L6: "arn:aws:license-manager::294406891311:license:l-5123456789abcdef0123456789abcdef",
  L_FOREIGN: "arn:aws:license-manager::294406891311:license:l-f123456789abcdef0123456789abcdef",
  C1: "cust-ABC123",
  C2: "cust-NOTSUB",
  T_OK: "dGtuLW9rLUwxLUExLVBfQ0E+/w==",
  T_LEG: "dGtuLWxlZy1DMS1BMy1QX0w+/w==",
  T_OLD: "dGtuLW9sZC1MMS1BMS1QX0NB+/w==",
  T_FOREIGN: "dGtuLWZvcmVpZ24tUF9GT1I+/w==",
  T_L3: "dGtuLWwzLUwzLUEyLVBfQ0E+/w==",
  /** The demo clock: 2026-07-15T10:30:00Z. */
  now: "2026-07-15T10:30:00.000Z",
} as const;

/**
 * The demo fixtures: products P_CA, P_OTHER, P_L (and another seller's P_FOREIGN), buyers A1–A3,
 * licenses L1–L6, legacy customers C1/C2, tokens T_OK, T_LEG, T_OLD, T_FOREIGN (plus T_L3 for L3).
 * Times are relative to `now` (default 2026-07-15T10:30:00Z, where the clock also starts, frozen when
 * `frozen` is true); pass `now: new Date()` for a live demo.
 *
 * @example
 * const emu = await startEmulator({ config: demoConfig({ frozen: true }) });
 */
export function demoConfig(
  options: { now?: Date | string | number; frozen?: boolean; setClock?: boolean } = {},
): EmulatorConfig {
  const now = toEpochMs(options.now ?? DEMO.now, "demoConfig now");
  const iso = (ms: number) => new Date(ms).toISOString();
  const H = 3600_000;
  const d = DEMO;
  return {
    sellerAccountId: d.sellerAccountId,
    defaultBuyerAccountId: d.A1,
    ...(options.setClock === false ? {} : { clock: { start: iso(now), frozen: options.frozen ?? false } }),
    products: [
      {
        productCode: d.P_CA,
        productId: "prod-pca1example",
        kind: "concurrent-agreements",
        dimensions: ["api_calls", "gb_stored"],
      },
      {
        productCode: d.P_OTHER,
        productId: "prod-poth1example",
        kind: "concurrent-agreements",
        dimensions: ["seats"],
        pricing: "contract",
      },
      { productCode: d.P_L, productId: "prod-pleg1example", kind: "legacy", dimensions: ["api_calls"] },
      {
        productCode: d.P_FOREIGN,
        productId: "prod-pfor1example",
        dimensions: ["api_calls"],
        sellerAccountId: d.otherSellerAccountId,
      },
    ],
    licenses: [
      {
        licenseArn: d.L1,
        customerAWSAccountId: d.A1,
        productCode: d.P_CA,
        activatedAt: iso(now - 14 * 24 * H - 10.5 * H),
      },
      {
        licenseArn: d.L2,
        customerAWSAccountId: d.A1,
        productCode: d.P_CA,
        activatedAt: iso(now - 7 * 24 * H),
      },
      { licenseArn: d.L3, customerAWSAccountId: d.A2, productCode: d.P_CA, status: "pending" },
      {
        licenseArn: d.L4,
        customerAWSAccountId: d.A1,
        productCode: d.P_OTHER,
        activatedAt: iso(now - 30 * 24 * H),
      },
      {
        licenseArn: d.L5,
        customerAWSAccountId: d.A1,
        productCode: d.P_CA,
        status: "deprovisioned",
        activatedAt: iso(now - 30 * 24 * H),
        deprovisionedAt: iso(now - 1.5 * H),
      },
      {
        licenseArn: d.L6,
        customerAWSAccountId: d.A1,
        productCode: d.P_CA,
        status: "deprovisioned",
        activatedAt: iso(now - 30 * 24 * H),
        deprovisionedAt: iso(now - H / 3),
      },
      {
        licenseArn: d.L_FOREIGN,
        customerAWSAccountId: d.A2,
        productCode: d.P_FOREIGN,
        activatedAt: iso(now - 30 * 24 * H),
      },
    ],
    customers: [
      { customerIdentifier: d.C1, customerAWSAccountId: d.A3, productCode: d.P_L, status: "subscribed" },
      { customerIdentifier: d.C2, customerAWSAccountId: d.A2, productCode: d.P_L, status: "unsubscribed" },
    ],
    entitlements: [
      {
        productCode: d.P_OTHER,
        dimension: "seats",
        customerAWSAccountId: d.A1,
        licenseArn: d.L4,
        value: 25,
        expirationDate: iso(now + 335 * 24 * H),
      },
    ],
    tokens: [
      { token: d.T_OK, licenseArn: d.L1, issuedAt: iso(now - 1.5 * H) },
      { token: d.T_LEG, customerIdentifier: d.C1, issuedAt: iso(now - 1.5 * H) },
      { token: d.T_OLD, licenseArn: d.L1, issuedAt: iso(now - 4 * H - 1000) },
      { token: d.T_FOREIGN, licenseArn: d.L_FOREIGN, issuedAt: iso(now - 0.5 * H) },
      { token: d.T_L3, licenseArn: d.L3, issuedAt: iso(now - 0.5 * H) },
    ],
  };
}
