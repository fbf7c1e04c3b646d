/** The seller page's query string (customer, period, dimension), validated before anything is read. */
import { MarketplaceError } from "../../errors/index.js";
import { identityFromKey } from "../../identity/index.js";

const DAY = 86_400_000;
/** The longest period one page shows: about a quarter, so one page never reads a whole history. */
export const MAX_PERIOD_DAYS = 92;
/** The default period: the last 7 UTC days, today included. */
export const DEFAULT_PERIOD_DAYS = 7;
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
// Printable ASCII only: what identity keys and dimension names are made of (no control characters).
const PRINTABLE = /^[\x20-\x7e]+$/;

/** What the seller page shows, from its query string. */
export interface UsagePageQuery {
  /** Identity key of one customer (`identityKey(identity)`), or undefined for the overview. */
  customer?: string;
  /** One dimension only. */
  dimension?: string;
  /** First UTC day, epoch ms (inclusive). */
  from: number;
  /** End of the last UTC day, epoch ms (exclusive). */
  to: number;
}

const bad = (message: string) => new MarketplaceError("INVALID_ARGUMENT", message);

/** `YYYY-MM-DD` (a real UTC calendar day) to epoch ms, or undefined. */
export function parseDay(text: string): number | undefined {
  const m = DATE.exec(text);
  if (!m) return undefined;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const t = Date.UTC(y, mo - 1, d);
  const back = new Date(t);
  if (y < 1970 || back.getUTCFullYear() !== y || back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d)
    return undefined;
  return t;
}

/** Epoch ms to `YYYY-MM-DD` (UTC). */
export function formatDay(t: number): string {
  return new Date(t).toISOString().slice(0, 10);
}

function single(params: URLSearchParams, name: string): string | undefined {
  const all = params.getAll(name);
  if (all.length > 1) throw bad(`${name} may be given once`);
  const v = all[0];
  return v === undefined || v === "" ? undefined : v;
}

/**
 * Parses and validates the page's query (`customer`, `from`, `to` as `YYYY-MM-DD` UTC days, `to`
 * inclusive, `dimension`). Throws `INVALID_ARGUMENT` with a sentence a person can act on; unknown
 * parameters are ignored.
 *
 * @example
 * parseUsagePageQuery("?from=2026-07-01&to=2026-07-15", Date.now())
 */
export function parseUsagePageQuery(search: string | URLSearchParams, now: number): UsagePageQuery {
  const params = typeof search === "string" ? new URLSearchParams(search) : search;
  const today = Math.floor(now / DAY) * DAY;
  const fromText = single(params, "from");
  const toText = single(params, "to");
  const to = toText === undefined ? today : parseDay(toText);
  if (to === undefined) throw bad("to must be a date written YYYY-MM-DD (UTC)");
  const from = fromText === undefined ? to - (DEFAULT_PERIOD_DAYS - 1) * DAY : parseDay(fromText);
  if (from === undefined) throw bad("from must be a date written YYYY-MM-DD (UTC)");
  if (from > to) throw bad("from must not be after to");
  if ((to - from) / DAY + 1 > MAX_PERIOD_DAYS)
    throw bad(`a period is at most ${MAX_PERIOD_DAYS} days; choose a shorter one`);
  const query: UsagePageQuery = { from, to: to + DAY };
  const customer = single(params, "customer");
  if (customer !== undefined) {
    if (customer.length > 1024 || !PRINTABLE.test(customer)) throw bad("customer is not a customer key");
    try {
      identityFromKey(customer);
    } catch {
      throw bad("customer is not a customer key");
    }
    query.customer = customer;
  }
  const dimension = single(params, "dimension");
  if (dimension !== undefined) {
    if (dimension.length > 255 || !PRINTABLE.test(dimension)) throw bad("dimension is not a dimension name");
    query.dimension = dimension;
  }
  return query;
}
