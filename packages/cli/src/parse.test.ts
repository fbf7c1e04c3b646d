import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CliError } from "./errors.js";
import { csv, csvField } from "./output.js";
import {
  formatDuration,
  MAX_DURATION_MS,
  MAX_PERIOD_MS,
  parseCustomer,
  parseDate,
  parseDimension,
  parseDuration,
  parsePeriod,
} from "./parse.js";
import { parseStoreSpec, redact } from "./store.js";

const NOW = Date.UTC(2026, 6, 15, 10, 30);
// Whole dates between 1970 and 9999 (the parser's range), at millisecond resolution.
const instant = fc.integer({ min: 0, max: Date.UTC(9999, 11, 31, 23, 59, 59, 999) });

/** Either a value or a CliError with the given code; nothing else may escape. */
function outcome<T>(fn: () => T, code: string): { ok: true; value: T } | { ok: false } {
  try {
    return { ok: true, value: fn() };
  } catch (err) {
    expect(err).toBeInstanceOf(CliError);
    expect((err as CliError).code).toBe(code);
    return { ok: false };
  }
}

describe("parseDuration", () => {
  it("reads back what formatDuration writes", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: MAX_DURATION_MS }), (ms) => {
        expect(parseDuration(formatDuration(ms))).toBe(ms);
      }),
    );
  });

  it("sums units in decreasing order", () => {
    expect(parseDuration("1h30m")).toBe(90 * 60_000);
    expect(parseDuration("2d")).toBe(2 * 86_400_000);
    expect(parseDuration("500ms")).toBe(500);
  });

  it("refuses bare numbers, repeated or misordered units and absurd lengths with INVALID_DURATION", () => {
    for (const bad of ["", "90", "1m1h", "1h1h", "h", "-1h", "1.5h", "401d", "1 h", "1H"])
      expect(outcome(() => parseDuration(bad), "INVALID_DURATION").ok, bad).toBe(false);
  });

  it("never throws anything but a coded CliError, and never returns a negative or huge value", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 50 }), (s) => {
        const r = outcome(() => parseDuration(s), "INVALID_DURATION");
        if (r.ok) expect(r.value >= 0 && r.value <= MAX_DURATION_MS).toBe(true);
      }),
    );
  });
});

describe("parseDate", () => {
  it("reads every ISO instant back exactly (UTC and with an offset)", () => {
    fc.assert(
      fc.property(instant, fc.integer({ min: -14 * 60, max: 14 * 60 }), (ms, offsetMin) => {
        const iso = new Date(ms).toISOString();
        expect(parseDate(iso, NOW)).toBe(ms);
        // The same instant written in another zone.
        const local = new Date(ms + offsetMin * 60_000).toISOString().slice(0, 23);
        const sign = offsetMin < 0 ? "-" : "+";
        const a = Math.abs(offsetMin);
        const zone = `${sign}${String(Math.floor(a / 60)).padStart(2, "0")}:${String(a % 60).padStart(2, "0")}`;
        const r = outcome(() => parseDate(local + zone, NOW), "INVALID_DATE");
        // Shifting can leave the year range at the edges; inside it the instant is the same.
        if (r.ok) expect(r.value).toBe(ms);
      }),
    );
  });

  it("takes a bare date as midnight UTC and refuses days that do not exist", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1970, max: 9999 }),
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 1, max: 31 }),
        (y, m, d) => {
          const text = `${String(y).padStart(4, "0")}-${String(m).padStart(2, "0")}-${String(d).padStart(2, "0")}`;
          const real = new Date(Date.UTC(y, m - 1, d));
          const exists = real.getUTCMonth() === m - 1;
          const r = outcome(() => parseDate(text, NOW), "INVALID_DATE");
          expect(r.ok).toBe(exists);
          if (r.ok) expect(r.value).toBe(real.getTime());
        },
      ),
    );
  });

  it("reads now and durations ago relative to now", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: MAX_DURATION_MS }), (ms) => {
        expect(parseDate(`-${formatDuration(ms)}`, NOW)).toBe(NOW - ms);
      }),
    );
    expect(parseDate("now", NOW)).toBe(NOW);
  });

  it("never throws anything but a coded CliError", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 45 }), (s) => {
        const r = outcome(() => parseDate(s, NOW), "INVALID_DATE");
        if (r.ok) expect(Number.isFinite(r.value)).toBe(true);
      }),
    );
    for (const bad of [
      "2026-13-01",
      "2026-02-29",
      "2026-07-15T24:00",
      "15/07/2026",
      "yesterday",
      "2026-07-15T10:00+15:00",
    ])
      expect(outcome(() => parseDate(bad, NOW), "INVALID_DATE").ok, bad).toBe(false);
  });
});

describe("parsePeriod", () => {
  it("accepts exactly the ordered, bounded periods", () => {
    fc.assert(
      fc.property(instant, instant, (a, b) => {
        const r = outcome(
          () => parsePeriod(new Date(a).toISOString(), new Date(b).toISOString(), NOW),
          "INVALID_PERIOD",
        );
        expect(r.ok).toBe(b > a && b - a <= MAX_PERIOD_MS);
        if (r.ok) expect(r.value).toEqual({ from: a, to: b });
      }),
    );
  });

  it("requires --from and defaults --to to now", () => {
    expect(outcome(() => parsePeriod(undefined, "now", NOW), "INVALID_PERIOD").ok).toBe(false);
    expect(parsePeriod("-24h", undefined, NOW)).toEqual({ from: NOW - 86_400_000, to: NOW });
  });
});

describe("CSV", () => {
  /** RFC 4180 reader, enough to check the writer. */
  function parseCsv(text: string): string[][] {
    const rows: string[][] = [];
    let row: string[] = [];
    let field = "";
    let quoted = false;
    for (let i = 0; i < text.length; i++) {
      const c = text[i] as string;
      if (quoted) {
        if (c === '"' && text[i + 1] === '"') {
          field += '"';
          i++;
        } else if (c === '"') quoted = false;
        else field += c;
      } else if (c === '"') quoted = true;
      else if (c === ",") {
        row.push(field);
        field = "";
      } else if (c === "\r" && text[i + 1] === "\n") {
        row.push(field);
        rows.push(row);
        row = [];
        field = "";
        i++;
      } else field += c;
    }
    return rows;
  }

  it("round-trips any text through an RFC 4180 reader (formula starts neutralised)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.string(), { minLength: 2, maxLength: 2 }), { maxLength: 5 }),
        (rows) => {
          const back = parseCsv(csv(["a", "b"], rows));
          const expected = rows.map((r) => r.map((v) => (/^[=+\-@\t\r]/.test(v) ? `'${v}` : v)));
          expect(back).toEqual([["a", "b"], ...expected]);
        },
      ),
    );
    expect(csvField('say "hi", then\nleave')).toBe('"say ""hi"", then\nleave"');
    expect(csvField("=HYPERLINK(1)")).toBe("'=HYPERLINK(1)");
    expect(csvField(-5)).toBe("-5");
  });
});

describe("parseDimension and parseCustomer", () => {
  it("accept exactly printable names and never throw anything but a coded CliError", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (s) => {
        const d = outcome(() => parseDimension(s), "USAGE");
        expect(d.ok).toBe(s.length >= 1 && s.length <= 255 && !/[\u0000-\u0020\u007f]/.test(s));
        if (d.ok) expect(d.value).toBe(s);
        const c = outcome(() => parseCustomer(s), "USAGE");
        if (c.ok) expect(c.value).toBe(s.trim());
        else expect(s.trim() === "" || /[\u0000-\u001f\u007f]/.test(s) || s.length > 2048).toBe(true);
      }),
    );
  });
});

describe("parseStoreSpec", () => {
  it("reads a path as SQLite, and a URL by its scheme, refusing unknown schemes", () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 60 }), (s) => {
        fc.pre(s.trim() !== "" && !/^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.test(s) && !s.startsWith("sqlite:"));
        expect(parseStoreSpec(s)).toEqual({ kind: "sqlite", path: s });
      }),
    );
    fc.assert(
      fc.property(fc.stringMatching(/^[a-z][a-z0-9+.-]{0,10}$/), fc.domain(), (scheme, host) => {
        const r = outcome(() => parseStoreSpec(`${scheme}://${host}/x`), "INVALID_STORE_URL");
        const known = [
          "postgres",
          "postgresql",
          "redis",
          "rediss",
          "redis+cluster",
          "rediss+cluster",
          "file",
        ].includes(scheme);
        expect(r.ok).toBe(known);
      }),
    );
  });

  it("reads redis+cluster:// and rediss+cluster:// as a Redis Cluster reached through that seed node", () => {
    expect(parseStoreSpec("redis+cluster://:pw@10.0.0.5:7000")).toEqual({
      kind: "redis",
      url: "redis://:pw@10.0.0.5:7000",
      cluster: true,
    });
    expect(parseStoreSpec("REDISS+CLUSTER://cfg.cache.amazonaws.com:6379")).toEqual({
      kind: "redis",
      url: "rediss://cfg.cache.amazonaws.com:6379",
      cluster: true,
    });
    expect(parseStoreSpec("redis://127.0.0.1:6379/0")).toEqual({
      kind: "redis",
      url: "redis://127.0.0.1:6379/0",
    });
    expect(() => parseStoreSpec("redis+cluster:///nohost")).toThrow(
      expect.objectContaining({ code: "INVALID_STORE_URL", message: expect.stringMatching(/has no host/) }),
    );
  });

  it("never shows a password in a redacted URL", () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[A-Za-z0-9]{8,20}$/), fc.domain(), (password, host) => {
        expect(redact(`postgres://app:${password}@${host}:5432/db`)).not.toContain(password);
      }),
    );
  });
});
