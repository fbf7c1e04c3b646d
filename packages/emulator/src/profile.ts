import { invalidArgument } from "./errors.js";

/** Operations the emulator serves. */
export type OperationName =
  | "BatchMeterUsage"
  | "MeterUsage"
  | "RegisterUsage"
  | "ResolveCustomer"
  | "GetEntitlements";

export const OPERATIONS: readonly OperationName[] = [
  "BatchMeterUsage",
  "MeterUsage",
  "RegisterUsage",
  "ResolveCustomer",
  "GetEntitlements",
];

/** Regions where BatchMeterUsage, ResolveCustomer and RegisterUsage answer (others: DisabledApiException). */
export const DEFAULT_REGIONS: readonly string[] = [
  "eu-north-1",
  "me-south-1",
  "ap-south-1",
  "eu-west-3",
  "ap-southeast-3",
  "us-east-2",
  "af-south-1",
  "eu-west-1",
  "me-central-1",
  "eu-central-1",
  "sa-east-1",
  "ap-east-1",
  "ap-south-2",
  "us-east-1",
  "ap-northeast-2",
  "ap-northeast-3",
  "eu-west-2",
  "ap-southeast-4",
  "eu-south-1",
  "ap-northeast-1",
  "us-west-2",
  "us-west-1",
  "ap-southeast-1",
  "ap-southeast-2",
  "il-central-1",
  "ca-central-1",
  "eu-south-2",
  "eu-central-2",
  "cn-northwest-1",
];

/**
 * Every behaviour the sources leave open (or disagree on) is a named switch here, so tests can be
 * re-pointed when the real service is observed to behave otherwise.
 */
export interface Profile {
  /**
   * BatchMeterUsage acceptance window: "24h" (current model, plus the 06:00 UTC month-end cut-off) or
   * "6h" (the pre-2026 model).
   * @default "24h"
   */
  window: "24h" | "6h";
  /**
   * Answer to an exact resend of an already-billed grain: "success" (same MeteringRecordId, as the API
   * reference implies) or "duplicate" (`DuplicateRecord`, as the agent-toolkit skill describes).
   * @default "success"
   */
  identicalResend: "success" | "duplicate";
  /**
   * A never-issued CustomerIdentifier: "requestError" (`InvalidCustomerIdentifierException` for the
   * whole request) or "perRecord" (`CustomerNotSubscribed` for that record only).
   * @default "requestError"
   */
  invalidCustomer: "requestError" | "perRecord";
  /**
   * Tag limit of 5: "acrossList" (at most 5 distinct keys over all allocations of a record, Seller
   * Guide) or "perAllocation" (5 tags per allocation, model).
   * @default "acrossList"
   */
  tagKeyLimit: "acrossList" | "perAllocation";
  /**
   * "windowAfterDeprovision": `License Deprovisioned` opens the final metering window;
   * "afterWindow": `Purchase Agreement Ended` opens it and `License Deprovisioned` (sent when it
   * closes) ends metering.
   * @default "windowAfterDeprovision"
   */
  deprovisionOrder: "windowAfterDeprovision" | "afterWindow";
  /**
   * Registration token lifetime in milliseconds (a token this old or older is expired).
   * @default 14400000 (4 h)
   */
  tokenLifetimeMs: number;
  /**
   * Length of the final metering window after a cancellation, in milliseconds.
   * @default 3600000 (1 h)
   */
  finalWindowMs: number;
  /**
   * Requests per second per (seller account, Region, operation); 0 disables the limit.
   * @default { BatchMeterUsage: 10, MeterUsage: 10, RegisterUsage: 5, GetEntitlements: 20, ResolveCustomer: 0 }
   */
  rateLimits: Record<OperationName, number>;
  /**
   * Regions where BatchMeterUsage, ResolveCustomer and RegisterUsage are available.
   * @default the 29 Regions of the AWS metering Region list
   */
  regions: string[];
  /**
   * Request bodies of this many bytes or more are refused with `ValidationException` (requests must be
   * under 1 MB).
   * @default 1048576
   */
  maxBodyBytes: number;
  /**
   * RegisterUsage public key versions that are current.
   * @default [1]
   */
  publicKeyVersions: number[];
  /**
   * RegisterUsage key versions that still work but have expired: version → rotation time (ISO 8601),
   * answered as `PublicKeyRotationTimestamp`.
   * @default {}
   */
  expiredPublicKeyVersions: Record<string, string>;
}

/** The default profile (documented behaviour where documented, our reading elsewhere). */
export function defaultProfile(): Profile {
  return {
    window: "24h",
    identicalResend: "success",
    invalidCustomer: "requestError",
    tagKeyLimit: "acrossList",
    deprovisionOrder: "windowAfterDeprovision",
    tokenLifetimeMs: 4 * 3600_000,
    finalWindowMs: 3600_000,
    rateLimits: {
      BatchMeterUsage: 10,
      MeterUsage: 10,
      RegisterUsage: 5,
      GetEntitlements: 20,
      ResolveCustomer: 0,
    },
    regions: [...DEFAULT_REGIONS],
    maxBodyBytes: 1_048_576,
    publicKeyVersions: [1],
    expiredPublicKeyVersions: {},
  };
}

/** Partial profile accepted by `setProfile` and the config file. */
export type ProfilePatch = Partial<Omit<Profile, "rateLimits">> & {
  rateLimits?: Partial<Record<OperationName, number>>;
};

function oneOf<T extends string>(name: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value !== "string" || !(allowed as readonly string[]).includes(value)) {
    throw invalidArgument(
      `profile.${name} must be one of ${allowed.map((a) => `"${a}"`).join(", ")}; got ${JSON.stringify(value)}`,
    );
  }
  return value as T;
}

function nonNegative(name: string, value: unknown, min = 0): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value < min) {
    throw invalidArgument(`profile.${name} must be a number >= ${min}; got ${JSON.stringify(value)}`);
  }
  return value;
}

/** Validates a patch and returns the merged profile (the input is not modified). */
export function applyProfilePatch(base: Profile, patch: unknown): Profile {
  if (typeof patch !== "object" || patch === null || Array.isArray(patch)) {
    throw invalidArgument("profile must be an object");
  }
  const p = patch as Record<string, unknown>;
  const out: Profile = { ...base, rateLimits: { ...base.rateLimits }, regions: [...base.regions] };
  for (const [key, value] of Object.entries(p)) {
    if (value === undefined) continue;
    switch (key) {
      case "window":
        out.window = oneOf(key, value, ["24h", "6h"] as const);
        break;
      case "identicalResend":
        out.identicalResend = oneOf(key, value, ["success", "duplicate"] as const);
        break;
      case "invalidCustomer":
        out.invalidCustomer = oneOf(key, value, ["requestError", "perRecord"] as const);
        break;
      case "tagKeyLimit":
        out.tagKeyLimit = oneOf(key, value, ["acrossList", "perAllocation"] as const);
        break;
      case "deprovisionOrder":
        out.deprovisionOrder = oneOf(key, value, ["windowAfterDeprovision", "afterWindow"] as const);
        break;
      case "tokenLifetimeMs":
        out.tokenLifetimeMs = nonNegative(key, value, 1);
        break;
      case "finalWindowMs":
        out.finalWindowMs = nonNegative(key, value);
        break;
      case "maxBodyBytes":
        out.maxBodyBytes = nonNegative(key, value, 2);
        break;
      case "rateLimits": {
        if (typeof value !== "object" || value === null || Array.isArray(value)) {
          throw invalidArgument("profile.rateLimits must be an object of operation → requests per second");
        }
        for (const [op, rate] of Object.entries(value as Record<string, unknown>)) {
          if (!(OPERATIONS as readonly string[]).includes(op)) {
            throw invalidArgument(
              `profile.rateLimits: unknown operation "${op}"; use one of ${OPERATIONS.join(", ")}`,
            );
          }
          out.rateLimits[op as OperationName] = nonNegative(`rateLimits.${op}`, rate);
        }
        break;
      }
      case "regions":
        if (!Array.isArray(value) || value.some((r) => typeof r !== "string" || !r)) {
          throw invalidArgument("profile.regions must be an array of Region names");
        }
        out.regions = [...(value as string[])];
        break;
      case "publicKeyVersions":
        if (!Array.isArray(value) || value.some((v) => !Number.isInteger(v) || (v as number) < 1)) {
          throw invalidArgument("profile.publicKeyVersions must be an array of integers >= 1");
        }
        out.publicKeyVersions = [...(value as number[])];
        break;
      case "expiredPublicKeyVersions": {
        if (typeof value !== "object" || value === null || Array.isArray(value)) {
          throw invalidArgument("profile.expiredPublicKeyVersions must map a version to an ISO 8601 time");
        }
        const map: Record<string, string> = {};
        for (const [version, when] of Object.entries(value as Record<string, unknown>)) {
          if (!/^[1-9][0-9]*$/.test(version) || typeof when !== "string" || Number.isNaN(Date.parse(when))) {
            throw invalidArgument(`profile.expiredPublicKeyVersions["${version}"] must be an ISO 8601 time`);
          }
          map[version] = when;
        }
        out.expiredPublicKeyVersions = map;
        break;
      }
      default:
        throw invalidArgument(
          `unknown profile option "${key}"; known: window, identicalResend, invalidCustomer, tagKeyLimit, deprovisionOrder, tokenLifetimeMs, finalWindowMs, rateLimits, regions, maxBodyBytes, publicKeyVersions, expiredPublicKeyVersions`,
        );
    }
  }
  return out;
}
