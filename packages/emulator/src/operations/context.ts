import { ApiError } from "../errors.js";
import type { Profile } from "../profile.js";
import { type EmulatorState, hourStart } from "../state.js";
import { INT32_MAX, TAG_PATTERN } from "../wire/shapes.js";

/** What an operation handler gets besides its input. */
export interface OpContext {
  state: EmulatorState;
  region: string;
  requestId: string;
  /** Emulator time of the request, epoch ms. */
  now: number;
  header(name: string): string | undefined;
}

/** A handler's answer: the output members and a one-line summary for the request log. */
export interface OpResult {
  output: Record<string, unknown>;
  summary: string;
}

export const HOUR = 3600_000;

/** Whether a BatchMeterUsage timestamp (epoch seconds) is inside the acceptance window at `now`. */
export function batchWindowOk(tsSeconds: number, now: number, profile: Profile): boolean {
  const ms = tsSeconds * 1000;
  // The current hour may be reported before it ends; a later hour is in the future.
  if (ms >= hourStart(now) + HOUR) return false;
  const limit = profile.window === "24h" ? 24 * HOUR : 6 * HOUR;
  if (now - ms >= limit) return false;
  // Previous-month usage closes at 06:00 UTC on the 1st, even when younger than 24 h.
  const d = new Date(now);
  const monthStart = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
  if (ms < monthStart && now >= monthStart + 6 * HOUR) return false;
  return true;
}

/** MeterUsage accepts records up to 6 hours old (and not in a future hour). */
export function meterUsageWindowOk(tsSeconds: number, now: number): boolean {
  const ms = tsSeconds * 1000;
  return ms < hourStart(now) + HOUR && now - ms < 6 * HOUR;
}

export interface Allocation {
  AllocatedUsageQuantity?: number;
  Tags?: Array<{ Key?: string; Value?: string }>;
}

/** Tag checks of one record's allocations: answers InvalidTagException. */
export function checkTags(allocations: Allocation[] | undefined, profile: Profile): void {
  if (!allocations) return;
  const keys = new Set<string>();
  for (const a of allocations) {
    if (a.Tags === undefined) continue;
    if (a.Tags.length === 0)
      throw new ApiError("InvalidTagException", "Tags must contain between 1 and 5 tags.");
    if (a.Tags.length > 5)
      throw new ApiError("InvalidTagException", `The number of tags (${a.Tags.length}) is greater than 5.`);
    for (const t of a.Tags) {
      if (typeof t.Key !== "string" || typeof t.Value !== "string") {
        throw new ApiError("InvalidTagException", "Every tag needs a Key and a Value.");
      }
      if (t.Key.length < 1 || t.Key.length > 100 || !TAG_PATTERN.test(t.Key)) {
        throw new ApiError(
          "InvalidTagException",
          `Tag key '${t.Key.slice(0, 120)}' must be 1-100 characters of [a-zA-Z0-9+ -=._:/@].`,
        );
      }
      if (t.Value.length < 1 || t.Value.length > 256 || !TAG_PATTERN.test(t.Value)) {
        throw new ApiError(
          "InvalidTagException",
          `Tag value for key '${t.Key}' must be 1-256 characters of [a-zA-Z0-9+ -=._:/@].`,
        );
      }
      keys.add(t.Key);
    }
  }
  if (profile.tagKeyLimit === "acrossList" && keys.size > 5) {
    throw new ApiError(
      "InvalidTagException",
      `The usage allocations use ${keys.size} distinct tag keys; at most 5 are allowed.`,
    );
  }
}

/** Allocation checks of one record: answers InvalidUsageAllocationsException. */
export function checkAllocations(allocations: Allocation[] | undefined, quantity: number): void {
  if (allocations === undefined) return;
  if (allocations.length < 1 || allocations.length > 2500) {
    throw new ApiError(
      "InvalidUsageAllocationsException",
      `UsageAllocations must contain between 1 and 2500 allocations; got ${allocations.length}.`,
    );
  }
  let sum = 0;
  const sets = new Set<string>();
  for (const a of allocations) {
    const q = a.AllocatedUsageQuantity;
    if (q === undefined || q < 0 || q > INT32_MAX) {
      throw new ApiError(
        "InvalidUsageAllocationsException",
        "Each allocation needs an AllocatedUsageQuantity between 0 and 2147483647.",
      );
    }
    sum += q;
    const set = JSON.stringify((a.Tags ?? []).map((t) => [t.Key, t.Value]).sort());
    if (sets.has(set))
      throw new ApiError(
        "InvalidUsageAllocationsException",
        "Each UsageAllocation must have a unique set of tags.",
      );
    sets.add(set);
  }
  if (sum !== quantity) {
    throw new ApiError(
      "InvalidUsageAllocationsException",
      `The sum of AllocatedUsageQuantity (${sum}) does not equal the usage quantity (${quantity}).`,
    );
  }
}

export const toAllocations = (allocations: Allocation[] | undefined) =>
  allocations?.map((a) => ({
    quantity: a.AllocatedUsageQuantity ?? 0,
    ...(a.Tags ? { tags: a.Tags.map((t) => ({ key: t.Key ?? "", value: t.Value ?? "" })) } : {}),
  }));

export const isoHour = (tsSeconds: number): string => new Date(hourStart(tsSeconds * 1000)).toISOString();
