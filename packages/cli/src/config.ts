/**
 * Product configuration for the commands that talk to AWS (`send`, `retry`, `doctor`): a JSON file
 * (`--config`, `MARKETMETER_CONFIG`, or `./marketmeter.config.json`) or, without a file, the variables
 * `MARKETMETER_PRODUCT_CODE` (comma-separated) and `MARKETMETER_DIMENSIONS` (comma-separated).
 */
import { readFileSync, statSync } from "node:fs";
import { isValidProductCode, type ProductConfig } from "@marketmeter/core";
import { CliError } from "./errors.js";

export interface CliConfig {
  products: ProductConfig[];
  dimensions: string[];
  region: string | undefined;
  endpoint: string | undefined;
  gracePeriodMs: number | undefined;
  callsPerSecond: number | undefined;
  /** Name of the variable holding the EventBridge webhook secret (the secret itself never sits in the file). */
  webhookSecretEnv: string;
  /** Where it came from, for messages. */
  source: string;
}

const KEYS = [
  "products",
  "dimensions",
  "region",
  "endpoint",
  "gracePeriodMs",
  "callsPerSecond",
  "webhookSecretEnv",
] as const;
const DEFAULT_FILE = "marketmeter.config.json";
const DIMENSION_RE = /^[A-Za-z0-9_.-]{1,255}$/;

function bad(source: string, message: string): never {
  throw new CliError("INVALID_CONFIG", `${source}: ${message}`);
}

/** Loads and validates the configuration; undefined when none is given anywhere. */
export function loadConfig(path: string | undefined, env: NodeJS.ProcessEnv): CliConfig | undefined {
  const file =
    path ??
    env.MARKETMETER_CONFIG ??
    (statSync(DEFAULT_FILE, { throwIfNoEntry: false }) ? DEFAULT_FILE : undefined);
  if (file !== undefined) {
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(file, "utf8"));
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      bad(file, e.code === "ENOENT" ? "no such file" : `not valid JSON (${e.message})`);
    }
    return parseConfig(raw, file, env);
  }
  if (env.MARKETMETER_PRODUCT_CODE) {
    const list = (v: string | undefined) =>
      (v ?? "")
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean);
    return parseConfig(
      {
        products: list(env.MARKETMETER_PRODUCT_CODE).map((productCode) => ({ productCode })),
        dimensions: list(env.MARKETMETER_DIMENSIONS),
      },
      "MARKETMETER_PRODUCT_CODE/MARKETMETER_DIMENSIONS",
      env,
    );
  }
  return undefined;
}

/** Validates a parsed configuration object; every problem names the key to fix. */
export function parseConfig(raw: unknown, source: string, env: NodeJS.ProcessEnv): CliConfig {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) bad(source, "must be a JSON object");
  const o = raw as Record<string, unknown>;
  for (const k of Object.keys(o))
    if (!(KEYS as readonly string[]).includes(k))
      bad(source, `unknown key "${k}" (known: ${KEYS.join(", ")})`);
  if (!Array.isArray(o.products) || o.products.length === 0)
    bad(source, 'products must be a non-empty list of { "productCode": "…" }');
  const products = o.products.map((p, i): ProductConfig => {
    if (typeof p !== "object" || p === null) bad(source, `products[${i}] must be an object`);
    const { productCode, contract } = p as Record<string, unknown>;
    if (!isValidProductCode(productCode))
      bad(source, `products[${i}].productCode ${JSON.stringify(productCode)} is not a product code`);
    if (contract !== undefined && typeof contract !== "boolean")
      bad(source, `products[${i}].contract must be true or false`);
    return contract ? { productCode, contract } : { productCode };
  });
  if (!Array.isArray(o.dimensions) || o.dimensions.length === 0)
    bad(source, "dimensions must be a non-empty list of the listing's dimension names");
  const dimensions = o.dimensions.map((d, i) => {
    if (typeof d !== "string" || !DIMENSION_RE.test(d))
      bad(source, `dimensions[${i}] ${JSON.stringify(d)} is not a dimension name`);
    return d;
  });
  const str = (k: string): string | undefined => {
    const v = o[k];
    if (v === undefined) return undefined;
    if (typeof v !== "string" || v === "") bad(source, `${k} must be a non-empty string`);
    return v;
  };
  const int = (k: string, min: number, max: number): number | undefined => {
    const v = o[k];
    if (v === undefined) return undefined;
    if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max)
      bad(source, `${k} must be an integer between ${min} and ${max}`);
    return v;
  };
  const endpoint = str("endpoint");
  if (endpoint !== undefined && !/^https?:\/\/[^/]/.test(endpoint))
    bad(source, "endpoint must be an http(s) URL");
  const webhookSecretEnv = str("webhookSecretEnv") ?? "MARKETMETER_WEBHOOK_SECRET";
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(webhookSecretEnv))
    bad(source, "webhookSecretEnv must be a variable name");
  return {
    products,
    dimensions,
    region: str("region") ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION,
    endpoint,
    gracePeriodMs: int("gracePeriodMs", 0, 3_600_000),
    callsPerSecond: int("callsPerSecond", 1, 10),
    webhookSecretEnv,
    source,
  };
}
