// The seller's usage page in headless Chromium, after a demo flow: its numbers equal the store's and the
// emulator's ledger, it refuses requests without the admin token, and it runs under its strict CSP with
// no console error, no request leaving 127.0.0.1, and a keyboard path through it.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningApp, startApp } from "../src/app.js";
import { type Browser, CHROMIUM, chromiumAvailable, launchChromium } from "./chromium.js";
import { emulatorControl } from "./control.js";
import { defined } from "./defined.js";

process.env.AWS_EC2_METADATA_DISABLED = "true";
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";

// In CI a missing browser is a broken machine, not a reason to skip.
if (!chromiumAvailable && process.env.CI)
  throw new Error(
    `Chromium not found at ${CHROMIUM}; install the Debian package "chromium" or set CHROMIUM_PATH`,
  );

const ADMIN = "admin-token-for-the-usage-page-test";
const PRODUCT = "pca1234567890abcdefghijkl";
const HOUR = "2026-07-15T10:00:00.000Z";

type LedgerRow = {
  customerAWSAccountId: string;
  dimension: string;
  hour: string;
  quantity: number;
  meteringRecordId: string;
};

describe.skipIf(!chromiumAvailable)("the seller's usage page in headless Chromium", () => {
  let app: RunningApp;
  let dataDir: string;
  let browser: Browser;
  let emulatorUrl: string;
  const accounts: string[] = [];

  const control = emulatorControl(() => emulatorUrl);
  const form = (path: string, fields: Record<string, string>, cookie = "") =>
    fetch(app.url + path, {
      method: "POST",
      body: new URLSearchParams(fields),
      redirect: "manual",
      headers: { cookie },
    });

  /** A buyer subscribes, registers and signs up; returns the API key. */
  async function newBuyer(account: string, name: string): Promise<string> {
    const sub = await control<{ license: { licenseArn: string } }>("/_emulator/buyers/subscribe", {
      productCode: PRODUCT,
      customerAWSAccountId: account,
    });
    const { token } = await control<{ token: string }>("/_emulator/tokens", {
      licenseArn: sub.license.licenseArn,
    });
    const registered = await form("/marketplace/register", { "x-amzn-marketplace-token": token });
    expect(registered.status).toBe(303);
    const registration = defined(
      new URL(defined(registered.headers.get("location")), app.url).searchParams.get("registration"),
    );
    const signed = await form("/signup", { registration, name, email: `${name}@example.com` });
    expect(signed.status).toBe(303);
    const cookie = defined(signed.headers.get("set-cookie")?.split(";")[0]);
    const page = await (await fetch(`${app.url}/signup/done`, { headers: { cookie } })).text();
    accounts.push(account);
    return defined(/mm_[A-Za-z0-9_-]{32}/.exec(page)?.[0]);
  }

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), "express-saas-usage-"));
    app = await startApp({
      port: 0,
      dataDir,
      adminToken: ADMIN,
      emulator: { port: 0, now: "2026-07-15T10:30:00Z", frozen: true },
      log: () => {},
    });
    emulatorUrl = defined(app.emulator).endpoint;
    // The demo flow: two buyers, metered calls, the hour closed and sent to the emulator.
    const ann = await newBuyer("111122223333", "ann");
    const bob = await newBuyer("444455556666", "bob");
    const call = (path: string, key: string) =>
      fetch(app.url + path, { headers: { authorization: `Bearer ${key}` } });
    for (let i = 0; i < 3; i++) expect((await call("/api/quotes?symbol=ACME", ann)).status).toBe(200);
    expect((await call("/api/reports?symbol=ACME&days=4", ann)).status).toBe(200);
    for (let i = 0; i < 2; i++) expect((await call("/api/quotes?symbol=XYZ", bob)).status).toBe(200);
    expect((await form("/demo/close-hour", {})).status).toBe(303);
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await app?.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it("refuses a browser without the admin token (401)", async () => {
    const tab = await browser.open();
    await tab.goto(`${app.url}/admin/usage`);
    expect(tab.log.documents).toEqual([{ url: `${app.url}/admin/usage`, status: 401 }]);
    expect(await tab.evaluate<string>("document.body.innerText")).not.toMatch(/111122223333|444455556666/);
    const wrong = await browser.open({ authorization: "Bearer not-the-admin-token-at-all" });
    await wrong.goto(`${app.url}/admin/usage`);
    expect(wrong.log.documents[0]?.status).toBe(401);
  });

  it("shows the numbers of the store and of the emulator's ledger, under its CSP, usable by keyboard", async () => {
    const ledger = await control<LedgerRow[]>("/_emulator/ledger");
    const stored = await app.marketplace.report({ states: ["sent"] });
    expect(ledger).toHaveLength(3);
    expect(stored).toHaveLength(3);
    const tab = await browser.open({ authorization: `Bearer ${ADMIN}` });
    await tab.goto(`${app.url}/admin/usage`);
    expect(tab.log.documents).toEqual([{ url: `${app.url}/admin/usage`, status: 200 }]);

    // Overview: one row per customer and dimension, Recorded and Sent as in the store and the ledger.
    const rows = await tab.evaluate<string[][]>(
      `[...document.querySelectorAll("table tbody tr")].map((tr) => [...tr.cells].map((c) => c.textContent.trim()))`,
    );
    const onPage = rows.map(([customer, dimension, recorded, sent]) => [
      defined(/\d{12}/.exec(defined(customer))?.[0]),
      dimension,
      Number(recorded),
      Number(sent),
    ]);
    const expected = (rows: Array<{ account: string; dimension: string; quantity: number }>) =>
      rows.map((r) => [r.account, r.dimension, r.quantity, r.quantity]).sort();
    expect(onPage.sort()).toEqual(
      expected(
        ledger.map((r) => ({
          account: r.customerAWSAccountId,
          dimension: r.dimension,
          quantity: r.quantity,
        })),
      ),
    );
    expect(onPage.sort()).toEqual(
      expected(
        stored.map((g) => ({
          account: defined(g.identity.customerAWSAccountId),
          dimension: g.dimension,
          quantity: g.quantity,
        })),
      ),
    );

    // One customer: each hour's state and MeteringRecordId as the emulator recorded them.
    const href = await tab.evaluate<string>(
      `[...document.querySelectorAll("tbody th a")].find((a) => a.textContent.includes("111122223333")).href`,
    );
    await tab.goto(href);
    const hours = await tab.evaluate<string[][]>(
      `[...document.querySelectorAll('table[aria-labelledby="mm-hours"] tbody tr')].map((tr) => [...tr.cells].map((c) => c.textContent.trim()))`,
    );
    const annLedger = ledger.filter((r) => r.customerAWSAccountId === "111122223333");
    expect(
      hours.map(([hour, dimension, units, state, id]) => [hour, dimension, Number(units), state, id]).sort(),
    ).toEqual(
      annLedger
        .map((r) => [`${HOUR.slice(0, 13)}:00Z`, r.dimension, r.quantity, "sent", r.meteringRecordId])
        .sort(),
    );

    // Screen reader and keyboard: labelled controls, captioned tables, a chart with a text alternative.
    expect(
      await tab.evaluate<boolean>(
        `[...document.querySelectorAll("select,input")].every((e) => e.labels.length === 1)`,
      ),
    ).toBe(true);
    expect(
      await tab.evaluate<boolean>(
        `[...document.querySelectorAll("table")].every((t) => t.caption && t.caption.textContent.trim().length > 0)`,
      ),
    ).toBe(true);
    const chartNames = await tab.evaluate<string[]>(
      `[...document.querySelectorAll('svg[role="img"]')].map((s) => s.getAttribute("aria-labelledby").split(" ").map((id) => document.getElementById(id).textContent).join(" "))`,
    );
    expect(chartNames).toHaveLength(2);
    for (const name of chartNames) expect(name).toMatch(/per hour .*units of/);
    await tab.tab();
    const focused = await tab.evaluate<{ tag: string; outline: string }>(
      `({ tag: document.activeElement.tagName, outline: getComputedStyle(document.activeElement).outlineWidth })`,
    );
    // The page's own style sheet applied (allowed by its hash): the focus ring is its 3px outline.
    expect(focused).toEqual({ tag: "A", outline: "3px" });

    // Nothing blocked by the CSP, nothing logged, nothing fetched outside the app.
    expect(tab.log.problems).toEqual([]);
    expect(tab.log.requests.every((u) => u.startsWith(`${app.url}/`))).toBe(true);
    // The log does catch violations: an inline style the policy does not allow is reported.
    await tab.evaluate(
      `document.head.appendChild(Object.assign(document.createElement("style"), { textContent: "p{color:red}" })) && true`,
    );
    await expect
      .poll(() => tab.log.problems.join("\n"), { timeout: 5000 })
      .toMatch(/Content Security Policy/);
  });
});
