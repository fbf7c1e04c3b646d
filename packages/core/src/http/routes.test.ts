import { afterEach, describe, expect, it } from "vitest";
import { handleRegistration, resolveRegistrationOptions } from "./registration.js";
import { dryMarketplace, licenseUpdated, SECRET } from "./testbed.test-helper.js";
import { handleWebhook, resolveWebhookOptions } from "./webhooks.js";

const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const m of open.splice(0)) await m.close();
});
const make = () => {
  const m = dryMarketplace();
  open.push(m);
  return m;
};
const form = "application/x-www-form-urlencoded";

describe("registration route", () => {
  it("explains a missing token in a page for browsers and in problem JSON for API clients", async () => {
    const m = make();
    const o = resolveRegistrationOptions(m, { signUpUrl: "/signup" });
    const page = await handleRegistration(
      m,
      { method: "POST", headers: { "content-type": form, accept: "text/html" }, body: "a=1" },
      o,
    );
    expect(page.status).toBe(400);
    expect(page.headers["content-type"]).toMatch(/^text\/html/);
    expect(page.body).toContain("Set up your account");
    const json = await handleRegistration(
      m,
      {
        method: "POST",
        headers: new Headers({ "content-type": form, accept: "application/json" }),
        body: "a=1",
      },
      o,
    );
    expect(JSON.parse(json.body)).toMatchObject({ status: 400, code: "INVALID_TOKEN" });
    const put = await handleRegistration(m, { method: "PUT", headers: { accept: "application/json" } }, o);
    expect(put).toMatchObject({ status: 405, headers: { allow: "POST" } });
  });

  it("uses a custom error page and survives one that throws", async () => {
    const m = make();
    const custom = resolveRegistrationOptions(m, {
      signUpUrl: "/s",
      renderError: (p) => `<p>${p.status}</p>`,
    });
    expect((await handleRegistration(m, { method: "POST", body: "" }, custom)).body).toBe("<p>400</p>");
    const broken = resolveRegistrationOptions(m, {
      signUpUrl: "/s",
      renderError: () => {
        throw new Error("template bug");
      },
    });
    expect((await handleRegistration(m, { method: "POST", body: "" }, broken)).body).toContain(
      "<!doctype html>",
    );
  });

  it("validates its options", () => {
    const m = make();
    for (const bad of [
      { signUpUrl: "signup" },
      { signUpUrl: "//evil.example" },
      { signUpUrl: "javascript:alert(1)" },
      { signUpUrl: "/s", param: "a b" },
      { signUpUrl: "/s", maxBodyBytes: 10 },
      { signUpUrl: "/s", onError: 1 },
    ])
      expect(() => resolveRegistrationOptions(m, bad as never)).toThrow(
        expect.objectContaining({ code: "INVALID_CONFIG" }),
      );
    expect(() => resolveRegistrationOptions({} as never, { signUpUrl: "/s" })).toThrow(/register/);
  });
});

describe("webhook routes", () => {
  it("maps outcomes and errors to the statuses AWS acts on", async () => {
    const m = make();
    const o = resolveWebhookOptions(m, "eventBridge");
    const body = JSON.stringify(licenseUpdated());
    const ok = await handleWebhook(
      m,
      "eventBridge",
      { method: "POST", headers: { "x-marketmeter-webhook-secret": SECRET }, body },
      o,
    );
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body)).toMatchObject({ outcome: "applied", action: "license-updated" });
    const wrong = await handleWebhook(
      m,
      "eventBridge",
      { method: "POST", headers: { "x-marketmeter-webhook-secret": "nope" }, body },
      o,
    );
    expect(wrong.status).toBe(401);
    expect(wrong.headers["content-type"]).toBe("application/problem+json");
    const sns = await handleWebhook(
      m,
      "sns",
      { method: "POST", headers: {}, body: "not json" },
      resolveWebhookOptions(m, "sns"),
    );
    expect(sns.status).toBe(400);
  });

  it("validates its options", () => {
    const m = make();
    expect(() => resolveWebhookOptions({} as never, "sns")).toThrow(/handleSns/);
    expect(() => resolveWebhookOptions(m, "sns", { maxBodyBytes: 1 })).toThrow(
      expect.objectContaining({ code: "INVALID_CONFIG" }),
    );
  });
});
