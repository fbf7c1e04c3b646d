/**
 * Client tokens of AgentCore MeterUsage calls. AWS de-duplicates AgentCore usage by `ClientToken` only, so
 * the token is derived from what the usage is (deployment, dimension, interval, sequence): a resend after
 * a lost answer carries the same token and is never billed twice, and distinct usage never shares one.
 */
import { createHash } from "node:crypto";
import { MarketplaceError } from "../errors/index.js";

/** What identifies one AgentCore usage report. */
export interface ClientTokenInput {
  /** The deployment (agent runtime) id. */
  deployment: string;
  dimension: string;
  /** Start of the interval (epoch ms); for one call, its timestamp. */
  intervalStart: number;
  /** Position of the report within the interval (per call: the deployment's call sequence). @default 0 */
  sequence?: number;
  /** Length of the interval; 0 for one call. @default 3600000 (the hour) */
  intervalMs?: number;
}

const HOUR_MS = 3_600_000;

/** The model allows 1–64 characters; 64 hex digits of SHA-256 fit exactly. */
export const CLIENT_TOKEN_LENGTH = 64;

/**
 * The deterministic `ClientToken` of a usage report: 64 lowercase hex characters.
 *
 * @example
 * clientToken({ deployment: "agent-1", dimension: "calls", intervalStart: Date.UTC(2026, 6, 15, 10) })
 */
export function clientToken(input: ClientTokenInput): string {
  if (typeof input !== "object" || input === null)
    throw new MarketplaceError(
      "INVALID_ARGUMENT",
      "clientToken() takes { deployment, dimension, intervalStart }",
    );
  const { deployment, dimension, intervalStart, sequence = 0, intervalMs = HOUR_MS } = input;
  if (typeof deployment !== "string" || deployment === "")
    throw new MarketplaceError("INVALID_ARGUMENT", "clientToken(): deployment must be a non-empty string");
  if (typeof dimension !== "string" || dimension === "")
    throw new MarketplaceError("INVALID_ARGUMENT", "clientToken(): dimension must be a non-empty string");
  if (!Number.isSafeInteger(intervalStart))
    throw new MarketplaceError("INVALID_ARGUMENT", "clientToken(): intervalStart must be epoch milliseconds");
  if (!Number.isSafeInteger(sequence) || sequence < 0)
    throw new MarketplaceError("INVALID_ARGUMENT", "clientToken(): sequence must be an integer >= 0");
  if (!Number.isSafeInteger(intervalMs) || intervalMs < 0)
    throw new MarketplaceError("INVALID_ARGUMENT", "clientToken(): intervalMs must be an integer >= 0");
  // JSON keeps the fields apart: no two inputs serialize to the same text. Hourly tokens keep the shape
  // they always had, so a resend across an upgrade is still the same request.
  const fields: unknown[] = ["marketmeter/agentcore/1", deployment, dimension, intervalStart, sequence];
  if (intervalMs !== HOUR_MS) fields.push(intervalMs);
  return createHash("sha256").update(JSON.stringify(fields)).digest("hex");
}
