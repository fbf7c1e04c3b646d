// The product this starter sells: a small market-data API. The numbers are made up (a deterministic walk
// per symbol and day), so the example needs no data source; replace this file with your own service.
import { createHash } from "node:crypto";

const DAY_MS = 86_400_000;
const SYMBOL = /^[A-Z]{1,5}$/;

export interface Quote {
  symbol: string;
  price: number;
  currency: "USD";
  asOf: string;
}

export interface ReportRow {
  date: string;
  open: number;
  close: number;
  volume: number;
}

/** Thrown for bad query parameters; the routes answer it with 400 (and a 4xx is never billed). */
export class BadRequest extends Error {}

/** Reads `?symbol=` (default ACME). */
export function parseSymbol(value: unknown): string {
  const symbol = typeof value === "string" && value !== "" ? value.toUpperCase() : "ACME";
  if (!SYMBOL.test(symbol)) throw new BadRequest("symbol must be 1-5 letters");
  return symbol;
}

/** Reads `?days=` (default 7): how many rows a report has, and so how many `report_rows` it bills. */
export function parseDays(value: unknown): number {
  const days = value === undefined || value === "" ? 7 : Number(value);
  if (!Number.isInteger(days) || days < 1 || days > 365)
    throw new BadRequest("days must be an integer 1-365");
  return days;
}

function unit(...parts: Array<string | number>): number {
  return createHash("sha256").update(parts.join("|")).digest().readUInt32BE(0) / 0xffffffff;
}

function closeOn(symbol: string, day: number): number {
  const base = 20 + unit(symbol) * 480;
  return Math.round(base * (0.9 + unit(symbol, day) * 0.2) * 100) / 100;
}

/** The latest price of `symbol` at `now`. */
export function quote(symbol: string, now: Date): Quote {
  const day = Math.floor(now.getTime() / DAY_MS);
  const drift = 1 + (unit(symbol, now.getUTCHours(), now.getUTCMinutes()) - 0.5) * 0.01;
  const price = Math.round(closeOn(symbol, day - 1) * drift * 100) / 100;
  return { symbol, price, currency: "USD", asOf: now.toISOString() };
}

/** Daily history of `symbol`: one row per day, newest last. */
export function report(symbol: string, days: number, now: Date): ReportRow[] {
  const today = Math.floor(now.getTime() / DAY_MS);
  const rows: ReportRow[] = [];
  for (let day = today - days; day < today; day++) {
    rows.push({
      date: new Date(day * DAY_MS).toISOString().slice(0, 10),
      open: closeOn(symbol, day - 1),
      close: closeOn(symbol, day),
      volume: Math.round(unit(symbol, day, "volume") * 5_000_000),
    });
  }
  return rows;
}
