/** Parsers of the command line's values: dates, durations, periods, formats, customers. */
import { CliError } from "./errors.js";

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
/** Longer than any question about AWS's 24 h window or a month's bill needs; catches typos like 9999d. */
export const MAX_DURATION_MS = 400 * 86_400_000;
/** The longest `--from`..`--to` span: a year (stores keep settled grains 90 days by default). */
export const MAX_PERIOD_MS = 366 * 86_400_000;

/**
 * A duration such as `90m`, `3h`, `1h30m`, `2d`, `45s` or `500ms` → milliseconds. Units in decreasing
 * order, each once; a bare number is refused (minutes or hours? the reader cannot tell).
 */
export function parseDuration(text: string, option = "duration"): number {
  const bad = (why: string) =>
    new CliError(
      "INVALID_DURATION",
      `${option}: ${JSON.stringify(text)} is not a duration (${why}); write e.g. 90m, 3h, 1h30m, 2d`,
    );
  if (typeof text !== "string" || text.length === 0 || text.length > 40) throw bad("empty or too long");
  const re = /(\d{1,9})(ms|s|m|h|d)/y;
  let total = 0;
  let last = Number.POSITIVE_INFINITY;
  let i = 0;
  while (i < text.length) {
    re.lastIndex = i;
    const m = re.exec(text);
    if (!m) throw bad("a number followed by ms, s, m, h or d");
    const unit = UNITS[m[2] as string] as number;
    if (unit >= last) throw bad("units must go from largest to smallest, each once");
    last = unit;
    total += Number(m[1]) * unit;
    i = re.lastIndex;
  }
  if (total > MAX_DURATION_MS) throw bad("longer than 400 days");
  return total;
}

/** Inverse of {@link parseDuration} for display: the shortest exact form, `0s` for zero. */
export function formatDuration(ms: number): string {
  if (ms === 0) return "0s";
  let left = Math.abs(ms);
  let out = "";
  for (const [u, size] of [
    ["d", UNITS.d],
    ["h", UNITS.h],
    ["m", UNITS.m],
    ["s", UNITS.s],
    ["ms", UNITS.ms],
  ] as const) {
    const n = Math.floor(left / (size as number));
    if (n > 0) {
      out += `${n}${u}`;
      left -= n * (size as number);
    }
  }
  return ms < 0 ? `-${out}` : out;
}

const DATE_RE =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2})(?::(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?)?(Z|[+-]\d{2}:\d{2})?)?$/;

/**
 * A point in time: an ISO date (`2026-07-15`, midnight UTC), an ISO date-time (`2026-07-15T10:00Z`,
 * `2026-07-15T10:00:00+02:00`; no offset means UTC, the time AWS bills in), `now`, or a duration ago
 * (`-24h`, `-7d`). Calendar-checked: `2026-02-30` is refused, not rolled over into March.
 */
export function parseDate(text: string, now: number, option = "date"): number {
  const bad = (why: string) =>
    new CliError(
      "INVALID_DATE",
      `${option}: ${JSON.stringify(text)} is not a date (${why}); write e.g. 2026-07-15, 2026-07-15T10:00Z, now or -24h`,
    );
  if (typeof text !== "string" || text.length === 0 || text.length > 40) throw bad("empty or too long");
  if (text === "now") return now;
  if (text.startsWith("-")) {
    let ms: number;
    try {
      ms = parseDuration(text.slice(1), option);
    } catch {
      throw bad("a relative date is a duration after a minus sign");
    }
    return now - ms;
  }
  const m = DATE_RE.exec(text);
  if (!m) throw bad("not ISO 8601");
  const [y, mo, d, h = "0", mi = "0", s = "0", frac = "0", zone = "Z"] = m.slice(1) as string[];
  const num = (v: string | undefined) => Number(v ?? 0);
  const year = num(y);
  const month = num(mo);
  const day = num(d);
  if (year < 1970 || year > 9999) throw bad("year out of range");
  if (month < 1 || month > 12) throw bad("no such month");
  const daysIn = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (day < 1 || day > daysIn) throw bad("no such day in that month");
  if (num(h) > 23 || num(mi) > 59 || num(s) > 59) throw bad("no such time of day");
  let offset = 0;
  if (zone !== "Z") {
    const oh = Number(zone.slice(1, 3));
    const om = Number(zone.slice(4, 6));
    if (oh > 14 || om > 59) throw bad("no such UTC offset");
    offset = (zone[0] === "-" ? -1 : 1) * (oh * 3_600_000 + om * 60_000);
  }
  const ms = Number(frac.padEnd(3, "0"));
  return Date.UTC(year, month - 1, day, num(h), num(mi), num(s), ms) - offset;
}

/** `--from`/`--to` as a half-open period [from, to). */
export function parsePeriod(
  fromText: string | undefined,
  toText: string | undefined,
  now: number,
): { from: number; to: number } {
  if (fromText === undefined)
    throw new CliError("INVALID_PERIOD", "--from is required (e.g. --from 2026-07-01)");
  const from = parseDate(fromText, now, "--from");
  const to = toText === undefined ? now : parseDate(toText, now, "--to");
  if (to <= from)
    throw new CliError(
      "INVALID_PERIOD",
      `--to (${new Date(to).toISOString()}) must be after --from (${new Date(from).toISOString()})`,
    );
  if (to - from > MAX_PERIOD_MS)
    throw new CliError("INVALID_PERIOD", "--from..--to spans more than 366 days; ask for a shorter period");
  return { from, to };
}

/** One of a fixed list of words. */
export function parseChoice<T extends string>(text: string, choices: readonly T[], option: string): T {
  if ((choices as readonly string[]).includes(text)) return text as T;
  throw new CliError("USAGE", `${option}: ${JSON.stringify(text)} is not one of ${choices.join(", ")}`);
}

/**
 * A customer as the seller knows it: an AWS account id, a license ARN or id (`l-…`), or a legacy
 * customer identifier. Printable text only (it ends up in terminal output and CSV).
 */
export function parseCustomer(text: string): string {
  if (typeof text !== "string" || text.trim() === "")
    throw new CliError(
      "USAGE",
      "--customer is required (an AWS account id, a license ARN or id, or a customer identifier)",
    );
  if (text.length > 2048 || /[\u0000-\u001f\u007f]/.test(text))
    throw new CliError("USAGE", "--customer must be printable text of at most 2048 characters");
  return text.trim();
}

/** A dimension name as AWS spells it: 1 to 255 printable characters (case-sensitive). */
export function parseDimension(text: string): string {
  if (text.length === 0 || text.length > 255 || /[\u0000-\u0020\u007f]/.test(text))
    throw new CliError(
      "USAGE",
      `--dimension: ${JSON.stringify(text)} is not a dimension name (1 to 255 characters, no spaces)`,
    );
  return text;
}
