import type { Emulator } from "@marketmeter/emulator";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  type App,
  billed,
  DEMO,
  HOUR,
  hit,
  ROUTES,
  SECRET,
  startEmu,
  startMeteredApp,
  waitFor,
} from "./bed.js";

let emu: Emulator;
beforeAll(async () => {
  emu = await startEmu();
});
afterAll(() => emu.close());

const FORM = { "content-type": "application/x-www-form-urlencoded" };
const HTML = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

async function postForm(app: App, token: string, accept = HTML) {
  return fetch(app.base + ROUTES.registration, {
    method: "POST",
    headers: { ...FORM, accept },
    body: `x-amzn-marketplace-token=${encodeURIComponent(token)}`,
    redirect: "manual",
  });
}

describe.each([
  ["express", false],
  ["fastify", false],
  ["express", true],
  ["fastify", true],
] as const)("buyers on %s (rawBody: %s)", (platform, rawBody) => {
  let app: App | undefined;
  const start = async () => {
    app = await startMeteredApp(
      platform,
      emu,
      { registration: { signUpUrl: "/signup?plan=pro" } },
      { routes: ROUTES, rawBody },
    );
    emu.setWebhooks({
      eventBridge: [{ url: app.base + ROUTES.eventBridge, secret: SECRET }],
      sns: [{ url: app.base + ROUTES.sns, requireConfirmation: true }],
    });
    return app;
  };
  afterEach(async () => {
    await app?.close();
    app = undefined;
    emu.reset();
    emu.clock.set(Date.parse(DEMO.now), { freeze: true });
  });

  it("subscribe → EventBridge → registration (303 to sign-up) → link → metered and allowed → unsubscribe → final hour billed → denied", async () => {
    const a = await start();
    const sub = await emu.subscribe({ productCode: DEMO.P_CA, customerAWSAccountId: DEMO.A2 });
    if (sub.kind !== "license") throw new Error("expected a license");
    const licenseArn = sub.license.licenseArn;
    await waitFor(
      () => a.service.buyers.directory.findByLicense(licenseArn)?.status === "active",
      "License Updated",
    );

    const res = await postForm(a, emu.mintToken({ licenseArn }));
    expect(res.status).toBe(303);
    const location = res.headers.get("location") as string;
    expect(location).toMatch(/^\/signup\?plan=pro&registration=[\w-]+$/);
    const registrationId = new URL(location, a.base).searchParams.get("registration") as string;
    await a.service.link(registrationId, "tenant-1");

    const tenant = { "x-tenant": "tenant-1" };
    const premium = await fetch(`${a.base}/premium`, { headers: tenant });
    expect([premium.status, await premium.json()]).toEqual([200, { premium: true }]);
    expect(await hit(a.base, "/hello", tenant, 3)).toEqual([200, 200, 200]);

    emu.clock.advance(60_000);
    await emu.unsubscribe({ licenseArn });
    await waitFor(() => emu.ledger().some((r) => r.licenseArn === licenseArn), "final metering");
    expect(
      emu
        .ledger()
        .filter((r) => r.licenseArn === licenseArn)
        .map((r) => [r.dimension, r.quantity]),
    ).toEqual([["api_calls", 4]]);
    // Still inside the final window: allowed, and usage there is billed in the next grain.
    expect(await hit(a.base, "/premium", tenant)).toEqual([200]);

    emu.clock.advance(HOUR);
    const denied = await fetch(`${a.base}/premium`, { headers: tenant });
    expect(denied.status).toBe(402);
    expect(denied.headers.get("content-type")).toMatch(/^application\/problem\+json/);
    expect(await denied.json()).toMatchObject({
      status: 402,
      reason: "cancelled",
      type: "urn:marketmeter:problem:subscription-cancelled",
    });
    // A cancelled tenant is no longer billed.
    const before = emu.ledger().length;
    await hit(a.base, "/hello", tenant, 2);
    emu.clock.advance(HOUR);
    await a.service.flush();
    expect(
      emu
        .ledger()
        .slice(before)
        .filter((r) => r.licenseArn === licenseArn && r.hour > "2026-07-15T11"),
    ).toEqual([]);
  });

  it("legacy SNS: confirmed subscription, subscribe-success activates a registered tenant", async () => {
    const a = await start();
    const res = await postForm(a, DEMO.T_LEG);
    expect(res.status).toBe(303);
    const registrationId = new URL(res.headers.get("location") as string, a.base).searchParams.get(
      "registration",
    ) as string;
    await a.service.link(registrationId, "tenant-leg");
    const pending = await fetch(`${a.base}/premium`, { headers: { "x-tenant": "tenant-leg" } });
    expect([pending.status, ((await pending.json()) as { reason: string }).reason]).toEqual([403, "pending"]);

    await emu.subscribe({ customerIdentifier: DEMO.C1 });
    await waitFor(() => a.service.access({ tenantId: "tenant-leg" }).allowed, "subscribe-success over SNS");
    expect(await hit(a.base, "/premium", { "x-tenant": "tenant-leg" })).toEqual([200]);
    expect(await hit(a.base, "/hello", { "x-tenant": "tenant-leg" }, 2)).toEqual([200, 200]);
    emu.clock.advance(HOUR);
    await a.service.flush();
    // The /premium call is a metered request too.
    expect(billed(emu)).toEqual({ [`${DEMO.C1}/api_calls/10h`]: 3 });
  });

  it("registration errors: a page for browsers, problem JSON for API clients, nothing billed", async () => {
    const a = await start();
    const page = await postForm(a, "not-a-real-token");
    expect(page.status).toBe(400);
    expect(page.headers.get("content-type")).toMatch(/^text\/html/);
    expect(await page.text()).toContain("Set up your account");
    const json = await postForm(a, "not-a-real-token", "application/json");
    expect(json.status).toBe(400);
    expect(json.headers.get("content-type")).toMatch(/^application\/problem\+json/);
    expect(await json.json()).toMatchObject({ status: 400, code: "INVALID_TOKEN" });
    const empty = await fetch(a.base + ROUTES.registration, {
      method: "POST",
      headers: { ...FORM, accept: "application/json" },
      body: "",
    });
    expect(empty.status).toBe(400);
    const huge = await fetch(a.base + ROUTES.registration, {
      method: "POST",
      headers: { ...FORM, accept: "application/json" },
      body: `x-amzn-marketplace-token=${"a".repeat(20_000)}`,
    });
    expect(huge.status).toBe(413);
    const asJson = await fetch(a.base + ROUTES.registration, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json" },
      body: JSON.stringify({ "x-amzn-marketplace-token": "abc" }),
    });
    expect(asJson.status).toBe(415);
    // GET reaches the core, which refuses it: a token in a URL would end up in logs.
    const byGet = await fetch(a.base + ROUTES.registration);
    expect(byGet.status).toBe(405);
    expect(byGet.headers.get("allow")).toBe("POST");
  });

  it("webhooks refuse a wrong secret (401) and forged SNS (4xx) with problem JSON", async () => {
    const a = await start();
    const wrong = await fetch(a.base + ROUTES.eventBridge, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-marketmeter-webhook-secret": "wrong-secret-0123456789",
      },
      body: JSON.stringify({
        source: "aws.agreement-marketplace",
        "detail-type": "License Updated - Manufacturer",
        detail: {},
      }),
    });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get("content-type")).toMatch(/^application\/problem\+json/);
    const forged = await fetch(a.base + ROUTES.sns, {
      method: "POST",
      headers: { "content-type": "text/plain; charset=UTF-8", "x-amz-sns-message-type": "Notification" },
      body: JSON.stringify({
        Type: "Notification",
        MessageId: "m1",
        TopicArn: "arn:aws:sns:us-east-1:287250355862:aws-mp-subscription-notification-x",
        Message: "{}",
      }),
    });
    expect(forged.status).toBeGreaterThanOrEqual(400);
    expect(forged.status).toBeLessThan(500);
  });

  it("@RequireSubscription: 403 for anonymous and unknown tenants, with a problem body", async () => {
    const a = await start();
    const anon = await fetch(`${a.base}/premium`);
    expect(anon.status).toBe(403);
    expect(anon.headers.get("content-type")).toMatch(/^application\/problem\+json/);
    expect(await anon.json()).toMatchObject({ status: 403, type: "urn:marketmeter:problem:no-customer" });
    const unknown = await fetch(`${a.base}/premium`, { headers: { "x-tenant": "nobody" } });
    expect([unknown.status, ((await unknown.json()) as { reason: string }).reason]).toEqual([
      403,
      "not-registered",
    ]);
  });
});
