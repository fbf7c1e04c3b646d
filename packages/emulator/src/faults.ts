import { invalidArgument } from "./errors.js";
import { OPERATIONS, type OperationName } from "./profile.js";
import type { Random } from "./random.js";

/** When a fault fires: on each of the next `next` calls (or records), then with `probability` (0–1). */
export interface FaultTrigger {
  /** @default 0 */
  probability?: number;
  /** Fire on the next N calls (for `unprocessed`: the next N matching records). @default 0 */
  next?: number;
}

/** Which records an `unprocessed` fault applies to. Omitted fields match anything. */
export interface RecordMatch {
  dimension?: string;
  customerAWSAccountId?: string;
  customerIdentifier?: string;
  licenseArn?: string;
}

/** The record fields an unprocessed predicate sees. */
export interface FaultRecord {
  Dimension: string;
  CustomerAWSAccountId?: string;
  CustomerIdentifier?: string;
  LicenseArn?: string;
  Quantity?: number;
  Timestamp: number;
}

export interface UnprocessedFault extends FaultTrigger {
  /** Only records matching these fields; with no probability/next, every matching record. */
  match?: RecordMatch;
  /** Programmatic alternative to `match` (not available over the control API). */
  predicate?: (record: FaultRecord) => boolean;
}

/** Faults for one operation. */
export interface OperationFaults {
  /** Answer `ThrottlingException` (HTTP 400). */
  throttle?: FaultTrigger;
  /** Answer `InternalServiceErrorException` (HTTP 500). */
  internalError?: FaultTrigger;
  /** BatchMeterUsage only: put records into `UnprocessedRecords` (not recorded). */
  unprocessed?: UnprocessedFault;
  /** Delay the answer: a number of milliseconds (always), or with a trigger. */
  latencyMs?: number | (FaultTrigger & { ms: number });
}

/** Faults per operation; deterministic for a given seed. */
export type FaultConfig = Partial<Record<OperationName, OperationFaults>>;

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

function trigger(path: string, v: unknown, extra: string[] = []): FaultTrigger {
  if (!isObject(v))
    throw invalidArgument(`${path} must be an object like { "probability": 0.1 } or { "next": 3 }`);
  for (const k of Object.keys(v)) {
    if (!["probability", "next", ...extra].includes(k))
      throw invalidArgument(`${path}: unknown field "${k}"`);
  }
  const out: FaultTrigger = {};
  if (v.probability !== undefined) {
    if (typeof v.probability !== "number" || !(v.probability >= 0 && v.probability <= 1)) {
      throw invalidArgument(`${path}.probability must be a number between 0 and 1`);
    }
    out.probability = v.probability;
  }
  if (v.next !== undefined) {
    if (!Number.isInteger(v.next) || (v.next as number) < 0)
      throw invalidArgument(`${path}.next must be an integer >= 0`);
    out.next = v.next as number;
  }
  return out;
}

/** Validates a fault configuration (throws EMU_INVALID_ARGUMENT with the offending path). */
export function parseFaults(v: unknown): FaultConfig {
  if (!isObject(v)) throw invalidArgument("faults must be an object keyed by operation name");
  const out: FaultConfig = {};
  for (const [op, f] of Object.entries(v)) {
    if (!(OPERATIONS as readonly string[]).includes(op)) {
      throw invalidArgument(`faults: unknown operation "${op}"; use one of ${OPERATIONS.join(", ")}`);
    }
    if (f === undefined || f === null) continue;
    const path = `faults.${op}`;
    if (!isObject(f)) throw invalidArgument(`${path} must be an object`);
    const o: OperationFaults = {};
    for (const [kind, spec] of Object.entries(f)) {
      if (spec === undefined || spec === null) continue;
      if (kind === "throttle" || kind === "internalError") o[kind] = trigger(`${path}.${kind}`, spec);
      else if (kind === "unprocessed") {
        if (op !== "BatchMeterUsage")
          throw invalidArgument(`${path}.unprocessed: only BatchMeterUsage has UnprocessedRecords`);
        const t = trigger(`${path}.unprocessed`, spec, ["match", "predicate"]) as UnprocessedFault;
        const s = spec as Record<string, unknown>;
        if (s.match !== undefined) {
          if (!isObject(s.match)) throw invalidArgument(`${path}.unprocessed.match must be an object`);
          for (const [k, val] of Object.entries(s.match)) {
            if (
              !["dimension", "customerAWSAccountId", "customerIdentifier", "licenseArn"].includes(k) ||
              typeof val !== "string"
            ) {
              throw invalidArgument(
                `${path}.unprocessed.match.${k}: must be one of dimension, customerAWSAccountId, customerIdentifier, licenseArn with a string value`,
              );
            }
          }
          t.match = s.match as RecordMatch;
        }
        if (s.predicate !== undefined) {
          if (typeof s.predicate !== "function")
            throw invalidArgument(`${path}.unprocessed.predicate must be a function`);
          t.predicate = s.predicate as UnprocessedFault["predicate"];
        }
        o.unprocessed = t;
      } else if (kind === "latencyMs") {
        if (typeof spec === "number") {
          if (!(spec >= 0 && spec <= 600_000)) throw invalidArgument(`${path}.latencyMs must be 0–600000`);
          o.latencyMs = spec;
        } else {
          const t = trigger(`${path}.latencyMs`, spec, ["ms"]) as FaultTrigger & { ms: number };
          const ms = (spec as Record<string, unknown>).ms;
          if (typeof ms !== "number" || !(ms >= 0 && ms <= 600_000))
            throw invalidArgument(`${path}.latencyMs.ms must be 0–600000`);
          o.latencyMs = { ...t, ms };
        }
      } else
        throw invalidArgument(
          `${path}: unknown fault "${kind}"; use throttle, internalError, unprocessed or latencyMs`,
        );
    }
    out[op as OperationName] = o;
  }
  return out;
}

/** Stateful fault decisions (consumes `next` counters and the seeded PRNG). */
export class FaultEngine {
  private config: FaultConfig = {};
  constructor(private readonly random: Random) {}

  set(config: FaultConfig): void {
    this.config = parseFaults(config);
  }

  /** Merges per operation (an operation given replaces that operation's faults). */
  merge(config: FaultConfig): void {
    this.config = { ...this.config, ...parseFaults(config) };
  }

  get(): FaultConfig {
    return structuredClone(
      Object.fromEntries(
        Object.entries(this.config).map(([op, f]) => [
          op,
          f.unprocessed?.predicate ? { ...f, unprocessed: { ...f.unprocessed, predicate: undefined } } : f,
        ]),
      ),
    ) as FaultConfig;
  }

  private fire(t: FaultTrigger | undefined): boolean {
    if (!t) return false;
    if (t.next && t.next > 0) {
      t.next--;
      return true;
    }
    return t.probability !== undefined && t.probability > 0 && this.random.next() < t.probability;
  }

  latency(op: OperationName): number {
    const l = this.config[op]?.latencyMs;
    if (l === undefined) return 0;
    if (typeof l === "number") return l;
    return this.fire(l) ? l.ms : 0;
  }

  /** The injected request-level error for this call, if any. */
  requestFault(op: OperationName): "throttle" | "internalError" | undefined {
    const f = this.config[op];
    if (this.fire(f?.throttle)) return "throttle";
    if (this.fire(f?.internalError)) return "internalError";
    return undefined;
  }

  /** True when this BatchMeterUsage record is to be returned in UnprocessedRecords. */
  unprocessed(record: FaultRecord): boolean {
    const u = this.config.BatchMeterUsage?.unprocessed;
    if (!u) return false;
    const m = u.match;
    const matches =
      (!m ||
        ((m.dimension === undefined || m.dimension === record.Dimension) &&
          (m.customerAWSAccountId === undefined || m.customerAWSAccountId === record.CustomerAWSAccountId) &&
          (m.customerIdentifier === undefined || m.customerIdentifier === record.CustomerIdentifier) &&
          (m.licenseArn === undefined || m.licenseArn === record.LicenseArn))) &&
      (!u.predicate || safePredicate(u.predicate, record));
    if (!matches) return false;
    const hasTrigger = u.probability !== undefined || u.next !== undefined;
    if (!hasTrigger) return Boolean(m || u.predicate);
    return this.fire(u);
  }
}

function safePredicate(p: (r: FaultRecord) => boolean, r: FaultRecord): boolean {
  try {
    return Boolean(p(r));
  } catch {
    return false;
  }
}
