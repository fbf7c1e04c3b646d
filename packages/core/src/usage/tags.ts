/**
 * Tags and usage allocations (vendor-metered tagging). A record's usage is split over tag sets; the
 * canonical key of a tag set is a JSON array of [key, value] pairs sorted by key, so equal sets share
 * one allocation whatever the order they were given in.
 */
import { MarketplaceError } from "../errors/index.js";

/** Tags of usage, as a plain object: `{ team: "blue", env: "prod" }`. At most 5 tags. */
export type Tags = Readonly<Record<string, string>>;

/** An explicit split of a record's quantity over tag sets. */
export interface Allocation {
  quantity: number;
  /** Omit for the untagged share. */
  tags?: Tags;
}

export const MAX_TAGS = 5;
export const MAX_ALLOCATIONS = 2500;
// Documented tag character set (the Seller Guide's list; the model regex is looser).
const TAG_CHARS = /^[a-zA-Z0-9+ \-=._:/@]+$/;

function fail(message: string): never {
  throw new MarketplaceError("INVALID_ALLOCATIONS", message);
}

/** Validates a tag set and returns its canonical key (`""` for no tags). */
export function tagSetKey(tags: unknown): string {
  if (tags === undefined) return "";
  if (typeof tags !== "object" || tags === null || Array.isArray(tags))
    fail('tags must be an object of string values, e.g. { env: "prod" }');
  const entries = Object.entries(tags as Record<string, unknown>);
  if (entries.length === 0) fail("tags must not be empty (leave tags out for untagged usage)");
  if (entries.length > MAX_TAGS) fail(`at most ${MAX_TAGS} tags per usage (got ${entries.length})`);
  for (const [k, v] of entries) {
    if (k.length < 1 || k.length > 100 || !TAG_CHARS.test(k))
      fail(
        `tag key ${JSON.stringify(k.slice(0, 120))} must be 1-100 characters of a-z A-Z 0-9 + - = . _ : / @ and space`,
      );
    if (typeof v !== "string" || v.length < 1 || v.length > 256 || !TAG_CHARS.test(v))
      fail(
        `tag ${JSON.stringify(k)} must have a 1-256 character value of a-z A-Z 0-9 + - = . _ : / @ and space`,
      );
  }
  entries.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return JSON.stringify(entries);
}

/** Tags back from a canonical key. */
export function tagsFromKey(key: string): Array<{ Key: string; Value: string }> | undefined {
  if (key === "") return undefined;
  const pairs = JSON.parse(key) as Array<[string, string]>;
  return pairs.map(([Key, Value]) => ({ Key, Value }));
}

/**
 * Validates explicit allocations against the record quantity and returns tag-set key → quantity.
 * Equal tag sets are merged.
 */
export function parseAllocations(allocations: unknown, quantity: number): Record<string, number> {
  if (!Array.isArray(allocations)) fail("allocations must be an array of { quantity, tags? }");
  if (allocations.length < 1 || allocations.length > MAX_ALLOCATIONS)
    fail(`allocations must have 1-${MAX_ALLOCATIONS} entries`);
  const out: Record<string, number> = {};
  let sum = 0;
  for (const a of allocations) {
    if (typeof a !== "object" || a === null) fail("each allocation must be { quantity, tags? }");
    const q = (a as Allocation).quantity;
    if (!Number.isSafeInteger(q) || q < 0) fail("allocation quantity must be a non-negative integer");
    const key = tagSetKey((a as Allocation).tags);
    out[key] = (out[key] ?? 0) + q;
    sum += q;
  }
  if (sum !== quantity) fail(`allocation quantities sum to ${sum} but the usage quantity is ${quantity}`);
  return out;
}
