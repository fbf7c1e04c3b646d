// The whole buyer journey over real HTTP, in emulator mode: subscribe, register, sign up, metered calls,
// close the hour, check what AWS billed, cancel, and lose access.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningApp, startApp } from "../src/app.js";
import { emulatorControl } from "./control.js";
import { defined } from "./defined.js";

process.env.AWS_EC2_METADATA_DISABLED = "true";
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";

let app: RunningApp;
let emulatorUrl: string;
let dataDir: string;
const logs: string[] = [];
const secrets: string[] = [];

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), "{{name}}-"));
  app = await startApp({
    port: 0,
    dataDir,
    emulator: { port: 0, now: "2026-07-15T10:30:00Z", frozen: true },
    log: (line) => logs.push(line),
  });
  emulatorUrl = defined(app.emulator).endpoint;
});

afterAll(async () => {
  await app?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

/** One browser: keeps the cookie the app sets (the post-redirect-get views). */
let cookie = "";
const remember = (res: Response) => {
  const set = res.headers.get("set-cookie");
  if (set) cookie = defined(set.split(";")[0]);
  return res;
};
const post = async (url: string, form: Record<string, string>) =>
  remember(
    await fetch(url, {
      method: "POST",
      body: new URLSearchParams(form),
      redirect: "manual",
      headers: { cookie },
    }),
  );
const get = async (url: string) => remember(await fetch(url, { redirect: "manual", headers: { cookie } }));
/** A POST that must answer 303; returns the page it redirects to, fetched twice as a reload would. */
async function postAndReload(url: string, form: Record<string, string>, target: string) {
  const res = await post(url, form);
  expect(res.status).toBe(303);
  expect(res.headers.get("location")).toBe(target);
  const first = await get(new URL(target, app.url).href);
  const reload = await get(new URL(target, app.url).href);
  return { first: await first.text(), reload: await reload.text(), status: first.status };
}

const control = emulatorControl(() => emulatorUrl);

/** Fulfillment URL → 303 → sign-up page → form → API key; returns the key and the buyer's account. */
async function signUp(token: string, name: string): Promise<{ apiKey: string; account: string }> {
  secrets.push(token);
  const registered = await post(`${app.url}/marketplace/register`, { "x-amzn-marketplace-token": token });
  expect(registered.status).toBe(303);
  const signUpUrl = new URL(defined(registered.headers.get("location")), app.url);
  expect(signUpUrl.pathname).toBe("/signup");
  const form = await fetch(signUpUrl);
  expect(form.status).toBe(200);
  const account = /AWS account<\/th><td><code>(\d{12})</.exec(await form.text())?.[1];
  expect(account).toMatch(/^\d{12}$/);
  const done = await postAndReload(
    `${app.url}/signup`,
    {
      registration: defined(signUpUrl.searchParams.get("registration")),
      name,
      email: `${name.toLowerCase()}@example.com`,
    },
    "/signup/done",
  );
  expect(done.status).toBe(200);
  const apiKey = /mm_[A-Za-z0-9_-]{32}/.exec(done.first)?.[0];
  expect(apiKey).toBeDefined();
  // A reload shows the same key (it used to re-post the form: 409, and the key was lost).
  expect(/mm_[A-Za-z0-9_-]{32}/.exec(done.reload)?.[0]).toBe(apiKey);
  secrets.push(defined(apiKey));
  return { apiKey: defined(apiKey), account: defined(account) };
}

const call = (path: string, apiKey?: string) =>
  fetch(app.url + path, { headers: apiKey ? { authorization: `Bearer ${apiKey}` } : {} });

type BuyerUsage = { months: Array<{ dimensions: Array<{ dimension: string; sent: number; open: number }> }> };
type Billed = { customerAWSAccountId: string; dimension: string; hour: string; quantity: number };
const billed = async () =>
  (await control<Billed[]>("/_emulator/ledger"))
    .map((r) => `${r.customerAWSAccountId} ${r.dimension} ${r.hour} ${r.quantity}`)
    .sort();

describe("{{name}}", () => {
  it("health, home and demo pages answer", async () => {
    expect(await (await call("/health")).json()).toEqual({ ok: true });
    expect((await call("/")).status).toBe(200);
    const demo = await call("/demo");
    expect(demo.status).toBe(200);
    expect(await demo.text()).toContain(`${emulatorUrl}/_emulator/`);
  });

  it("subscribe → register → sign up → metered calls → close the hour → billed → cancel → denied", async () => {
    // Buyer A through the demo page's "Subscribe in AWS Marketplace" button.
    const { first: page, reload } = await postAndReload(`${app.url}/demo/subscribe`, {}, "/demo/subscribe");
    expect(reload).toBe(page);
    const tokenA = /name="x-amzn-marketplace-token" value="([^"]+)"/.exec(page)?.[1];
    expect(tokenA).toBeDefined();
    const a = await signUp(defined(tokenA), "Ann");

    // Buyer B through the emulator's control API, as a test or script would.
    const sub = await control<{ license: { licenseArn: string } }>("/_emulator/buyers/subscribe", {
      productCode: "pca1234567890abcdefghijkl",
      customerAWSAccountId: "444455556666",
    });
    const { token: tokenB } = await control<{ token: string }>("/_emulator/tokens", {
      licenseArn: sub.license.licenseArn,
    });
    const b = await signUp(tokenB, "Bob");
    expect(b.account).toBe("444455556666");

    for (let i = 0; i < 3; i++) expect((await call("/api/quotes?symbol=ACME", a.apiKey)).status).toBe(200);
    for (let i = 0; i < 2; i++) expect((await call("/api/quotes?symbol=XYZ", b.apiKey)).status).toBe(200);
    const reportRes = await call("/api/reports?symbol=ACME&days=5", a.apiKey);
    expect(reportRes.status).toBe(200);
    expect(((await reportRes.json()) as { rows: unknown[] }).rows).toHaveLength(5);
    // Not billed: a 400, a request without a key, a health check.
    expect((await call("/api/reports?days=0", a.apiKey)).status).toBe(400);
    expect((await call("/api/quotes")).status).toBe(401);
    expect((await call("/api/quotes", "mm_wrongwrongwrongwrongwrongwrongwron")).status).toBe(401);
    expect((await call("/health", a.apiKey)).status).toBe(200);
    // The demo page's "Try it" button calls the API over HTTP too: one more api_calls for A.
    // Reloading its result page shows the answer again without calling again (billed 4, not 5, below).
    const tried = await postAndReload(
      `${app.url}/demo/call`,
      { apiKey: a.apiKey, endpoint: "quotes" },
      "/demo",
    );
    expect(tried.first).toContain("<strong>200</strong>");
    expect(tried.reload).toContain("<strong>200</strong>");
    expect(tried.reload).toContain(`value="${a.apiKey}"`);

    const clock = () => control<{ now: string }>("/_emulator/clock").then((c) => c.now);
    const closed = await postAndReload(`${app.url}/demo/close-hour`, {}, "/demo");
    const afterClose = await clock();
    expect(closed.first).toContain("Closed and sent the hour starting 2026-07-15T10:00:00.000Z");
    expect(closed.reload).toContain("Closed and sent the hour starting 2026-07-15T10:00:00.000Z");
    // The reload did not close the next hour: the emulator clock did not move again.
    expect(await clock()).toBe(afterClose);
    const hour = "2026-07-15T10:00:00.000Z";
    expect(await billed()).toEqual(
      [
        `${a.account} api_calls ${hour} 4`,
        `${a.account} report_rows ${hour} 5`,
        `${b.account} api_calls ${hour} 2`,
      ].sort(),
    );

    // The seller's usage page (local-only in the demo) shows what AWS billed, per buyer and dimension.
    const usagePage = await call("/admin/usage");
    expect(usagePage.status).toBe(200);
    expect(usagePage.headers.get("content-security-policy")).toMatch(/^default-src 'none'/);
    const overview = await usagePage.text();
    for (const [account, dimension, quantity] of [
      [a.account, "api_calls", 4],
      [a.account, "report_rows", 5],
      [b.account, "api_calls", 2],
    ] as const)
      expect(overview).toMatch(
        new RegExp(
          `${account}[^<]*</a></th><td>${dimension}</td><td class="n">${quantity}</td><td class="n">${quantity}</td>`,
        ),
      );
    // Each buyer sees their own usage, whatever customer the query names; no key, no usage.
    const mine = async (key: string | undefined, query = "") => {
      const res = await call(`/account/usage${query}`, key);
      return {
        status: res.status,
        body: res.status === 200 ? ((await res.json()) as BuyerUsage) : undefined,
      };
    };
    const ofA = await mine(a.apiKey, `?customer=${b.account}`);
    expect(ofA.status).toBe(200);
    expect(ofA.body?.months[0]?.dimensions.map((d) => [d.dimension, d.sent, d.open])).toEqual([
      ["api_calls", 4, 0],
      ["report_rows", 5, 0],
    ]);
    expect((await mine(b.apiKey))?.body?.months[0]?.dimensions.map((d) => [d.dimension, d.sent])).toEqual([
      ["api_calls", 2],
    ]);
    expect((await mine(undefined)).status).toBe(401);

    // B cancels: access stays open for AWS's final hour, then closes.
    await control("/_emulator/buyers/unsubscribe", { licenseArn: sub.license.licenseArn });
    await control("/_emulator/clock", { advance: "61m" });
    const denied = await call("/api/quotes", b.apiKey);
    expect(denied.status).toBe(402);
    expect(denied.headers.get("content-type")).toContain("application/problem+json");
    expect((await call("/api/quotes", a.apiKey)).status).toBe(200);

    // Only A's call of the new hour is billed; B's 402 is not.
    expect((await post(`${app.url}/demo/close-hour`, {})).status).toBe(303);
    expect(await billed()).toEqual(
      [
        `${a.account} api_calls ${hour} 4`,
        `${a.account} api_calls 2026-07-15T12:00:00.000Z 1`,
        `${a.account} report_rows ${hour} 5`,
        `${b.account} api_calls ${hour} 2`,
      ].sort(),
    );
  });

  it("unknown API routes answer problem JSON; an expired or missing key page says so", async () => {
    const res = await call(
      "/api/nope",
      secrets.find((s) => s.startsWith("mm_")),
    );
    expect(res.status).toBe(404);
    expect(res.headers.get("content-type")).toContain("application/problem+json");
    expect(await res.json()).toMatchObject({ status: 404, title: "Not Found" });
    const noView = await fetch(`${app.url}/signup/done`);
    expect(noView.status).toBe(404);
    expect(await noView.text()).toContain("This page has expired");
  });

  it("logs no registration token or API key, and no error", () => {
    expect(secrets.length).toBe(4);
    const all = logs.join("\n");
    expect(logs.filter((line) => line.startsWith("error"))).toEqual([]);
    for (const secret of secrets) expect(all).not.toContain(secret);
  });
});
