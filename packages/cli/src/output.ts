/** Output helpers: aligned tables, RFC 4180 CSV, and a progress line that only a terminal sees. */

export interface Out {
  write(text: string): void;
  /** Progress and notes; never part of the machine-readable output. */
  note(text: string): void;
}

/** A plain-text table: a header, a rule, and left-aligned columns (numbers right-aligned). */
export function table(
  headers: readonly string[],
  rows: ReadonlyArray<ReadonlyArray<string | number>>,
): string {
  const cells = rows.map((r) => r.map((c) => String(c)));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? "").length)));
  const numeric = headers.map((_, i) => rows.length > 0 && rows.every((r) => typeof r[i] === "number"));
  const line = (r: readonly string[]) =>
    r
      .map((c, i) => (numeric[i] ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  return [line(headers), widths.map((w) => "-".repeat(w)).join("  "), ...cells.map(line)].join("\n");
}

/**
 * One CSV field: quoted when it holds a comma, quote, CR or LF (quotes doubled, RFC 4180), and prefixed
 * with `'` when it starts like a formula, so a reason text cannot run in the finance team's spreadsheet.
 */
export function csvField(value: string | number | undefined): string {
  if (value === undefined) return "";
  let s = String(value);
  if (typeof value === "string" && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

export function csv(
  headers: readonly string[],
  rows: ReadonlyArray<ReadonlyArray<string | number | undefined>>,
): string {
  return [headers, ...rows].map((r) => r.map(csvField).join(",")).join("\r\n") + "\r\n";
}

/** A self-overwriting progress line on a TTY's stderr; silent otherwise (pipes, files, `--json`). */
export class Progress {
  readonly #enabled: boolean;
  #shown = false;
  constructor(enabled: boolean) {
    this.#enabled = enabled && process.stderr.isTTY === true;
  }
  update(text: string): void {
    if (!this.#enabled) return;
    process.stderr.write(`\r\u001b[2K${text}`);
    this.#shown = true;
  }
  done(): void {
    if (this.#shown) process.stderr.write("\r\u001b[2K");
    this.#shown = false;
  }
}

/** `3h 12m` style age or time left, for people. */
export function human(ms: number): string {
  const neg = ms < 0;
  let s = Math.floor(Math.abs(ms) / 1000);
  const d = Math.floor(s / 86400);
  s -= d * 86400;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  const parts = d > 0 ? [`${d}d`, `${h}h`] : h > 0 ? [`${h}h`, `${m}m`] : [`${m}m`];
  // "1d", not "1d 0h": a zero second part says nothing.
  const shown = parts.length > 1 && parts[1]?.startsWith("0") ? [parts[0]] : parts;
  return (neg ? "-" : "") + shown.join(" ");
}

export const iso = (ms: number | undefined): string => (ms === undefined ? "" : new Date(ms).toISOString());
