import { describe, expect, it } from "vitest";
import { BillingPageError, escapeHtml, renderBillingPage } from "../src/ui/index.js";
import { defined } from "./defined.js";
import { A1, L1, NOW, P_CA, SAMPLE_ROWS, sampleDuplicates, sampleRecords, XSS } from "./page-fixtures.js";

function count(html: string, needle: string): number {
  return html.split(needle).length - 1;
}

function rows(html: string): string[] {
  return [...html.matchAll(/<tr data-testid="usage-row"[^>]*>/g)].map((m) => m[0]);
}

describe("billing page (static HTML)", () => {
  const html = renderBillingPage({ records: sampleRecords(), duplicates: sampleDuplicates(), now: NOW });

  it("is a complete document with no external resources and no scripts", () => {
    expect(html.startsWith('<!DOCTYPE html>\n<html lang="en">')).toBe(true);
    expect(html.trimEnd().endsWith("</html>")).toBe(true);
    expect(html).toContain('<meta charset="utf-8">');
    expect(html).toContain("default-src 'none'");
    // No <script>, <link>, <img>, <iframe> elements, and no URL other than the SVG namespace.
    expect(html).not.toMatch(/<(script|link|img|iframe|object|embed)\b/i);
    const urls = [...html.matchAll(/(?:https?:)?\/\/[a-z0-9.-]+\.[a-z]{2,}[^\s"'<>)]*/gi)].map((m) => m[0]);
    expect(urls.filter((u) => u !== "http://www.w3.org/2000/svg")).toEqual([]);
    expect(html).not.toMatch(/url\(/i);
    expect(html).not.toContain('http-equiv="refresh"');
  });

  it("summarises totals", () => {
    const records = sampleRecords();
    // One figure per dimension, never one sum across dimensions (they are different units).
    expect(html).not.toContain("summary-total-quantity");
    for (const d of ["api_calls", "gb_stored"]) {
      const total = records.filter((r) => r.dimension === d).reduce((a, r) => a + r.quantity, 0);
      expect(html).toContain(
        `data-testid="summary-dimension-quantity" data-dimension="${d}">${total.toLocaleString("en-US")}</div>`,
      );
    }
    expect(html).toContain(`data-testid="summary-records">${records.length}</div>`);
    // L1, L2, L3 licenses (A1 twice), the legacy id and the XSS id.
    expect(html).toContain(`data-testid="summary-customers">5</div>`);
    expect(html).toContain(`data-testid="summary-dimensions">2</div>`);
    expect(html).toContain(`data-testid="summary-hours">5</div>`);
    expect(html).toContain(`data-testid="summary-duplicates">2</div>`);
    expect(count(html, 'data-testid="summary-dimension"')).toBe(2);
  });

  it("has one table row per customer × dimension × hour (× region), newest hour first", () => {
    const r = rows(html);
    expect(r).toHaveLength(SAMPLE_ROWS);
    const hours = r.map((row) => /data-hour="([^"]+)"/.exec(row)?.[1] ?? "");
    expect(hours).toEqual([...hours].sort().reverse());
    expect(hours[0]).toBe("2026-07-15T10:00:00.000Z");
    expect(hours.at(-1)).toBe("2026-07-15T06:00:00.000Z");
    // The L1 api_calls row of 09:00 shows its quantity, record id and region.
    const i = r.findIndex(
      (row) =>
        row.includes('data-hour="2026-07-15T09:00:00.000Z"') &&
        row.includes('data-dimension="api_calls"') &&
        row.includes(`data-customer="${A1} ${L1}"`),
    );
    expect(i).toBeGreaterThanOrEqual(0);
    const body = html.split('<tr data-testid="usage-row"')[i + 1] ?? "";
    const cells = body.slice(0, body.indexOf("</tr>"));
    expect(cells).toContain(">190</td>");
    expect(cells).toMatch(/data-testid="usage-record-id">mrid-\d{4}-6f1c2a3b</);
    expect(cells).toContain(">us-east-1</td>");
    expect(cells).toContain(L1);
    expect(cells).toContain(P_CA);
    // Same grain in another region stays its own row.
    expect(html).toContain(">eu-west-1</td>");
  });

  it("groups several records of one grain into one row with the summed quantity", () => {
    const [first] = sampleRecords();
    const page = renderBillingPage({
      records: [defined(first), { ...defined(first), quantity: 5, meteringRecordId: "mrid-second" }],
      duplicates: [],
      now: NOW,
    });
    expect(rows(page)).toHaveLength(1);
    expect(page).toContain(`data-quantity="${defined(first).quantity + 5}"`);
    expect(page).toContain("mrid-second");
  });

  it("draws a stacked SVG bar per hour and dimension, with axes and a legend", () => {
    expect(html).toContain('<svg data-testid="chart-svg"');
    const bars = [...html.matchAll(/<rect data-testid="chart-bar"[^>]*>/g)].map((m) => m[0]);
    // 5 hours × 2 dimensions, every hour has both.
    expect(bars).toHaveLength(10);
    for (const bar of bars) {
      expect(Number(/height="([\d.]+)"/.exec(bar)?.[1])).toBeGreaterThan(0);
      expect(bar).toMatch(/fill="#[0-9A-F]{6}"/);
    }
    const h10 = bars.filter((b) => b.includes('data-hour="2026-07-15T10:00:00.000Z"'));
    const api10 = h10.find((b) => b.includes('data-series="api_calls"'));
    // L1 200 + L2 55 + legacy-xss 5 + eu-west-1 9.
    expect(api10).toContain('data-quantity="269"');
    expect(html).toContain(">Billed quantity</text>");
    expect(html).toContain(">Hour (UTC)</text>");
    expect(html).toContain(">06:00</text>");
    expect(html).toContain(">10:00</text>");
    expect(count(html, 'data-testid="legend-item"')).toBe(2);
  });

  it("can stack by customer instead", () => {
    const page = renderBillingPage({
      records: sampleRecords(),
      duplicates: [],
      now: NOW,
      stackBy: "customer",
    });
    // One chart per dimension, each with a legend of the customers billed for that dimension.
    expect(count(page, 'data-testid="chart"')).toBe(2);
    expect(count(page, 'data-testid="legend-item"')).toBe(6);
    expect(page).toContain("by customer</h2>");
    expect(page).toContain('data-series="123456789012 · l-0123456789abcdef0123456789abcdef"');
  });

  it("lists DuplicateRecord attempts with billed vs attempted quantities, highlighting a mismatch", () => {
    expect(html).toContain('class="duplicates" data-testid="duplicates-section"');
    const dup = [...html.matchAll(/<tr data-testid="duplicate-row"[^>]*>/g)].map((m) => m[0]);
    expect(dup).toHaveLength(2);
    const mismatch = dup.find((d) => d.includes('data-billed="190"'));
    expect(mismatch).toContain('class="mismatch"');
    expect(mismatch).toContain('data-attempted="240"');
    expect(html).toContain("+50 not billed");
    const same = dup.find((d) => d.includes('data-billed="70"'));
    expect(same).not.toContain("mismatch");
    expect(html).toContain("1 with a different quantity");
  });

  it("renders markup from request data inert (#XSS)", () => {
    expect(html).not.toContain(XSS);
    expect(html).not.toContain("<script>");
    expect(html).not.toMatch(/<img/i);
    expect(html).toContain(escapeHtml(XSS));
    expect(html).toContain(
      "&lt;script&gt;window.__xss=1&lt;/script&gt;&quot;&gt;&lt;img src=x onerror=&quot;",
    );
    // Also inert in attributes, the chart and the title.
    const evil = renderBillingPage({
      records: [
        {
          ...defined(sampleRecords()[0]),
          dimension: `"><svg onload=alert(1)>`,
          productCode: "</td><script>",
        },
      ],
      duplicates: [],
      now: NOW,
      title: "</title><script>alert(1)</script>",
      stackBy: "dimension",
    });
    expect(evil).not.toMatch(/<script/i);
    expect(evil).not.toContain("<svg onload");
    expect(evil).toContain("&lt;/title&gt;&lt;script&gt;");
    expect(evil).toContain('data-dimension="&quot;&gt;&lt;svg onload=alert(1)&gt;"');
  });

  it("shows an empty state", () => {
    const empty = renderBillingPage({ records: [], duplicates: [], now: NOW });
    expect(empty).toContain('data-testid="empty-state"');
    expect(empty).toContain("No billed usage yet");
    expect(empty).not.toContain('data-testid="usage-table"');
    expect(empty).not.toContain('data-testid="chart-svg"');
    expect(empty).not.toContain('data-testid="summary-dimension-quantity"');
    expect(empty).toContain('data-testid="duplicates-empty"');
    expect(html).not.toContain('data-testid="empty-state"');
  });

  it("adds a meta refresh only when asked", () => {
    expect(renderBillingPage({ records: [], duplicates: [], now: NOW, autoRefresh: true })).toContain(
      '<meta http-equiv="refresh" content="5">',
    );
    expect(renderBillingPage({ records: [], duplicates: [], now: NOW, autoRefresh: 30 })).toContain(
      '<meta http-equiv="refresh" content="30">',
    );
    expect(renderBillingPage({ records: [], duplicates: [], now: NOW, autoRefresh: false })).not.toContain(
      "refresh",
    );
  });

  it("draws only the most recent hours when there are many, and says so", () => {
    const [base] = sampleRecords();
    const records = Array.from({ length: 72 }, (_, i) => ({
      ...defined(base),
      hour: new Date(Date.parse("2026-07-12T00:00:00.000Z") + i * 3_600_000).toISOString(),
      meteringRecordId: `m-${i}`,
    }));
    const page = renderBillingPage({ records, duplicates: [], now: NOW, maxChartHours: 24 });
    expect(count(page, 'data-testid="chart-bar"')).toBe(24);
    expect(page).toContain('data-testid="chart-truncated">48 earlier hour(s)');
    expect(rows(page)).toHaveLength(72);
    // Hours without usage inside the drawn range are gaps, not squeezed out.
    const gap = renderBillingPage({
      records: [defined(records[0]), defined(records[5])],
      duplicates: [],
      now: NOW,
    });
    expect(count(gap, 'data-testid="chart-bar"')).toBe(2);
    expect(gap).toContain("6 hour(s) from 2026-07-12 00:00 to 2026-07-12 05:00 UTC");
  });

  it("validates its input with a coded error", () => {
    const bad = (input: unknown) => () => renderBillingPage(input as never);
    const coded = expect.objectContaining({ code: "INVALID_ARGUMENT", name: "BillingPageError" });
    expect(bad(null)).toThrow(coded);
    expect(bad({ records: {}, duplicates: [], now: NOW })).toThrow(coded);
    expect(bad({ records: [], duplicates: [], now: new Date(Number.NaN) })).toThrow(coded);
    expect(
      bad({ records: [{ ...defined(sampleRecords()[0]), hour: "yesterday" }], duplicates: [], now: NOW }),
    ).toThrow(/hour/);
    expect(
      bad({ records: [{ ...defined(sampleRecords()[0]), quantity: Number.NaN }], duplicates: [], now: NOW }),
    ).toThrow(coded);
    expect(bad({ records: [], duplicates: [], now: NOW, autoRefresh: -1 })).toThrow(coded);
    expect(bad({ records: [], duplicates: [], now: NOW, stackBy: "region" })).toThrow(coded);
    expect(() => renderBillingPage({ records: [], duplicates: "x" as never, now: NOW })).toThrow(
      BillingPageError,
    );
  });
});
