import { ApiError } from "../errors.js";

/** Minimal description of a Smithy input shape, enough to check JSON/CBOR types. */
export type Schema =
  | { t: "string" }
  | { t: "integer" }
  | { t: "boolean" }
  | { t: "timestamp" }
  | { t: "list"; member: Schema }
  | { t: "map"; value: Schema }
  | { t: "struct"; members: Record<string, Schema> };

const S: Schema = { t: "string" };
const I: Schema = { t: "integer" };
const B: Schema = { t: "boolean" };
const T: Schema = { t: "timestamp" };
const list = (member: Schema): Schema => ({ t: "list", member });
const struct = (members: Record<string, Schema>): Schema => ({ t: "struct", members });

const Tag = struct({ Key: S, Value: S });
const UsageAllocation = struct({ AllocatedUsageQuantity: I, Tags: list(Tag) });
const UsageRecord = struct({
  Timestamp: T,
  CustomerIdentifier: S,
  Dimension: S,
  Quantity: I,
  UsageAllocations: list(UsageAllocation),
  CustomerAWSAccountId: S,
  LicenseArn: S,
});

/** Input schemas per operation. */
export const INPUT_SCHEMAS = {
  BatchMeterUsage: struct({ UsageRecords: list(UsageRecord), ProductCode: S }),
  MeterUsage: struct({
    ProductCode: S,
    Timestamp: T,
    UsageDimension: S,
    UsageQuantity: I,
    DryRun: B,
    UsageAllocations: list(UsageAllocation),
    ClientToken: S,
  }),
  RegisterUsage: struct({ ProductCode: S, PublicKeyVersion: I, Nonce: S }),
  ResolveCustomer: struct({ RegistrationToken: S }),
  GetEntitlements: struct({
    ProductCode: S,
    Filter: { t: "map", value: list(S) },
    NextToken: S,
    MaxResults: I,
  }),
} as const;

const describe = (v: unknown): string =>
  v === null ? "null" : Array.isArray(v) ? "array" : typeof v === "bigint" ? "number" : typeof v;

/**
 * Checks the JSON types of a parsed body against the schema and returns a clean copy: unknown members
 * dropped (member names are case-sensitive) and `null` treated as absent. Wrong types answer
 * `SerializationException`, like a front end that cannot bind the document.
 */
export function bind(schema: Schema, value: unknown, path = ""): unknown {
  const fail = (expected: string): never => {
    throw new ApiError(
      "SerializationException",
      `Cannot deserialize ${path || "request body"}: expected ${expected}, got ${describe(value)}`,
    );
  };
  switch (schema.t) {
    case "string":
      return typeof value === "string" ? value : fail("a string");
    case "boolean":
      return typeof value === "boolean" ? value : fail("a boolean");
    case "integer":
      if (typeof value === "bigint") return Number(value);
      return typeof value === "number" && Number.isInteger(value) ? value : fail("an integer");
    case "timestamp":
      if (typeof value === "bigint") return Number(value);
      return typeof value === "number" && Number.isFinite(value)
        ? value
        : fail("a timestamp in epoch seconds (a number)");
    case "list": {
      if (!Array.isArray(value)) return fail("a list");
      const out: unknown[] = [];
      value.forEach((v, i) => {
        if (v === null) return;
        out.push(bind(schema.member, v, `${path}[${i}]`));
      });
      return out;
    }
    case "map": {
      if (typeof value !== "object" || value === null || Array.isArray(value)) return fail("a map");
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) {
        if (v === null || k === "__proto__") continue;
        out[k] = bind(schema.value, v, `${path}.${k}`);
      }
      return out;
    }
    case "struct": {
      if (
        typeof value !== "object" ||
        value === null ||
        Array.isArray(value) ||
        value instanceof Uint8Array
      ) {
        return fail("a structure");
      }
      const out: Record<string, unknown> = {};
      for (const [name, member] of Object.entries(schema.members)) {
        if (!Object.hasOwn(value, name)) continue;
        const v = (value as Record<string, unknown>)[name];
        if (v === null || v === undefined) continue;
        out[name] = bind(member, v, path ? `${path}.${name}` : name);
      }
      return out;
    }
  }
}

/** `T` with the members `K` present: what an operation's shape check guarantees to its run. */
export type Checked<T, K extends keyof T> = T & { [P in K]-?: Exclude<T[P], undefined> };

/** Whether the members `keys` of `input` are all present (narrows `input` to {@link Checked}). */
export function present<T extends object, K extends keyof T>(
  input: T,
  keys: readonly K[],
): input is Checked<T, K> {
  return keys.every((k) => input[k] !== undefined);
}

/** Collects constraint violations and answers them the way AWS front ends word them. */
export class Violations {
  private readonly list: string[] = [];
  add(value: unknown, path: string, constraint: string): void {
    const shown =
      typeof value === "string"
        ? value.length > 64
          ? `${value.slice(0, 64)}…`
          : value
        : JSON.stringify(value);
    this.list.push(`Value '${shown ?? "null"}' at '${path}' failed to satisfy constraint: ${constraint}`);
  }
  required(path: string): void {
    this.list.push(`Value null at '${path}' failed to satisfy constraint: Member must not be null`);
  }
  throwIfAny(type = "ValidationException"): void {
    if (this.list.length === 0) return;
    const n = this.list.length;
    throw new ApiError(type, `${n} validation error${n > 1 ? "s" : ""} detected: ${this.list.join("; ")}`);
  }

  /**
   * Throws the collected violations, else returns `input` typed with its required members `keys` (each
   * already recorded with `required()` when missing, so the last check only informs the compiler).
   */
  checked<T extends object, K extends keyof T>(input: T, keys: readonly K[]): Checked<T, K> {
    this.throwIfAny();
    if (!present(input, keys)) throw new ApiError("ValidationException", "A required member is missing.");
    return input;
  }
}

/** camelCase path segment the way AWS validation messages name members. */
export const lc = (s: string): string => s.charAt(0).toLowerCase() + s.slice(1);

export const INT32_MAX = 2_147_483_647;
export const PRODUCT_CODE_PATTERN = /^[-a-zA-Z0-9/=:_.@]*$/;
export const ACCOUNT_PATTERN = /^[0-9]+$/;
/** Tag key/value class as the model writes it: ` -=` is a range from space to `=`. */
export const TAG_PATTERN = /^[a-zA-Z0-9+ -=._:/@]+$/;
