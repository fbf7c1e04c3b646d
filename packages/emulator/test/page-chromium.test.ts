import { existsSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { renderBillingPage } from "../src/ui/index.js";
import { NOW, SAMPLE_ROWS, sampleDuplicates, sampleRecords, XSS } from "./page-fixtures.js";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const available = existsSync(CHROMIUM);
// In CI a missing browser is a broken machine, not a reason to skip.
if (!available && process.env.CI) {
  throw new Error(
    `Chromium not found at ${CHROMIUM}; install the Debian package "chromium" or set CHROMIUM_PATH`,
  );
}

const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** Serves fixed HTML on 127.0.0.1; anything else is 404. */
async function serve(html: () => string): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    if (req.url === "/" || req.url === "/billing") {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
      res.end(html());
      return;
    }
    res.writeHead(404);
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/** Collects every URL the page requests, and aborts any that would leave loopback. */
async function guard(page: Page): Promise<string[]> {
  const seen: string[] = [];
  page.on("request", (req) => seen.push(req.url()));
  await page.route("**/*", (route) => {
    const u = new URL(route.request().url());
    if (u.protocol === "data:" || u.hostname === "127.0.0.1") return route.continue();
    return route.abort("blockedbyclient");
  });
  return seen;
}

describe.skipIf(!available)("billing page in headless Chromium", () => {
  let browser: Browser;
  let server: Server;
  let base: string;
  let shots: string;

  beforeAll(async () => {
    // launch() gives every run a fresh temporary profile (user-data-dir), removed on close.
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
    const s = await serve(() =>
      renderBillingPage({ records: sampleRecords(), duplicates: sampleDuplicates(), now: NOW }),
    );
    server = s.server;
    base = s.url;
    shots = await mkdtemp(join(tmpdir(), "marketmeter-page-"));
  });

  afterAll(async () => {
    await browser?.close();
    server?.closeAllConnections();
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  });

  it("renders the table rows and the SVG bars visibly, stays on loopback, and runs no injected script", async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const requests = await guard(page);
    const dialogs: string[] = [];
    page.on("dialog", (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    const res = await page.goto(`${base}/`, { waitUntil: "load" });
    expect(res?.status()).toBe(200);

    const rows = page.getByTestId("usage-row");
    expect(await rows.count()).toBe(SAMPLE_ROWS);
    await expect.poll(() => rows.first().isVisible()).toBe(true);
    expect(await rows.first().getAttribute("data-hour")).toBe("2026-07-15T10:00:00.000Z");

    const bars = page.getByTestId("chart-bar");
    expect(await bars.count()).toBe(10);
    for (let i = 0; i < 10; i++) {
      const bar = bars.nth(i);
      expect(await bar.isVisible()).toBe(true);
      const box = await bar.boundingBox();
      expect(box?.width ?? 0).toBeGreaterThan(4);
      expect(box?.height ?? 0).toBeGreaterThan(1);
    }
    // Taller stacks render taller: 10:00 api_calls (269) vs 06:00 api_calls (160).
    const h = async (hour: string) =>
      (
        await page
          .locator(`[data-testid="chart-bar"][data-hour="${hour}"][data-series="api_calls"]`)
          .boundingBox()
      )?.height ?? 0;
    expect(await h("2026-07-15T10:00:00.000Z")).toBeGreaterThan(await h("2026-07-15T06:00:00.000Z"));

    expect(await page.getByTestId("chart-legend").count()).toBe(2);
    expect(await page.getByTestId("chart-legend").first().isVisible()).toBe(true);
    expect(await page.getByTestId("duplicate-row").count()).toBe(2);
    expect(await page.locator("tr.mismatch").count()).toBe(1);

    // The XSS identifier is shown as text and nothing ran.
    expect(await page.getByTestId("usage-table").textContent()).toContain("<script>window.__xss=1</script>");
    expect(await page.evaluate(() => (globalThis as { __xss?: number }).__xss)).toBeUndefined();
    expect(await page.locator("script, img").count()).toBe(0);
    expect(await page.getByText(XSS, { exact: false }).count()).toBeGreaterThan(0);
    expect(dialogs).toEqual([]);

    expect(requests.length).toBeGreaterThan(0);
    expect(requests.filter((u) => !u.startsWith(`${base}/`))).toEqual([]);

    const file = join(shots, "billing-page.png");
    await page.screenshot({ path: file, fullPage: true });
    expect(existsSync(file)).toBe(true);
    console.info(`billing page screenshot: ${file}`);
    await page.close();
  });

  it("shows the empty state", async () => {
    const empty = await serve(() => renderBillingPage({ records: [], duplicates: [], now: NOW }));
    try {
      const page = await browser.newPage();
      const requests = await guard(page);
      await page.goto(`${empty.url}/`);
      expect(await page.getByTestId("empty-state").isVisible()).toBe(true);
      expect(await page.getByTestId("usage-row").count()).toBe(0);
      expect(requests.filter((u) => !u.startsWith(`${empty.url}/`))).toEqual([]);
      await page.screenshot({ path: join(shots, "billing-empty.png"), fullPage: true });
      await page.close();
    } finally {
      empty.server.closeAllConnections();
      await new Promise<void>((r) => empty.server.close(() => r()));
    }
  });
});
