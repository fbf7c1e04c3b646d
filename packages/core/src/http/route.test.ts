import { describe, expect, it } from "vitest";
import { problemError, problemOf } from "./problem.js";
import { createRoute } from "./route.js";
import { declareHttpSettings } from "./settings.js";
import { dryMarketplace, licenseUpdated, P, SECRET } from "./testbed.test-helper.js";
import type { HttpResult } from "./types.js";

const form = "application/x-www-form-urlencoded";
const written = (r: HttpResult) => r;

function logged() {
  const lines: Array<[string, unknown, string | undefined]> = [];
  const at =
    (level: string) =>
    (obj: unknown, msg?: string): void => {
      lines.push([level, obj, msg]);
    };
  return { lines, logger: { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") } };
}

describe("route helper", () => {
  it("reads with the marketplace's body limit, hands the request to the core and writes the answer", async () => {
    const m = dryMarketplace();
    try {
      declareHttpSettings(m, { buyers: { registration: { maxBodyBytes: 300 } } });
      const route = createRoute("registration", m, { signUpUrl: "/signup" });
      expect(route.maxBodyBytes).toBe(300);
      const limits: number[] = [];
      const out = await route.serve({
        method: "POST",
        headers: { "content-type": form, accept: "application/json" },
        url: "/marketplace/register",
        read: async (max) => {
          limits.push(max);
          return "a=1";
        },
        write: written,
      });
      expect(limits).toEqual([300]);
      expect(out.status).toBe(400);
      expect(JSON.parse(out.body)).toMatchObject({ code: "INVALID_TOKEN" });
    } finally {
      await m.close();
    }
  });

  it("maps a failed read to the route's own error answer (page or problem JSON, 413)", async () => {
    const m = dryMarketplace();
    try {
      const route = createRoute("registration", m, { signUpUrl: "/signup" });
      expect(route.maxBodyBytes).toBe(16_384);
      const tooLarge = Object.assign(new Error("too large"), {});
      const { MarketplaceError } = await import("../errors/index.js");
      const read = () =>
        Promise.reject(
          new MarketplaceError("INVALID_REQUEST", "too large", { details: { httpStatus: 413 } }),
        );
      const page = await route.serve({
        method: "POST",
        headers: { accept: "text/html" },
        read,
        write: written,
      });
      expect(page.status).toBe(413);
      expect(page.headers["content-type"]).toMatch(/^text\/html/);
      const json = await route.serve({
        method: "POST",
        headers: new Headers({ accept: "application/json" }),
        read,
        write: written,
      });
      expect(JSON.parse(json.body)).toMatchObject({ status: 413 });
      const hook = createRoute("sns", m, undefined);
      expect(
        (
          await hook.serve({
            method: "POST",
            headers: {},
            read: () => Promise.reject(tooLarge),
            write: written,
          })
        ).status,
      ).toBe(500);
    } finally {
      await m.close();
    }
  });

  it("logs through the logger declared on the marketplace when the handler names none", async () => {
    const m = dryMarketplace();
    try {
      const { lines, logger } = logged();
      declareHttpSettings(m, { logger });
      const route = createRoute("eventBridge", m, undefined);
      const out = await route.serve({
        method: "POST",
        headers: { "x-marketmeter-webhook-secret": "wrong" },
        read: async () => JSON.stringify(licenseUpdated()),
        write: written,
      });
      expect(out.status).toBe(401);
      expect(lines.map(([level, , msg]) => [level, msg])).toEqual([
        ["warn", "marketmeter: lifecycle notification refused"],
      ]);
      const ok = await route.serve({
        method: "POST",
        headers: { "x-marketmeter-webhook-secret": SECRET },
        read: async () => JSON.stringify(licenseUpdated()),
        write: written,
      });
      expect(ok.status).toBe(200);
    } finally {
      await m.close();
    }
  });

  it("takes the logger and body limit given to the core's createMarketplace", async () => {
    const { createMarketplace } = await import("../marketplace/index.js");
    const { lines, logger } = logged();
    const m = createMarketplace({
      products: [{ productCode: P }],
      dimensions: ["api_calls"],
      aws: {
        region: "us-east-1",
        endpoint: "http://127.0.0.1:9",
        credentials: { accessKeyId: "A", secretAccessKey: "s" },
      },
      dryRun: true,
      autoStart: false,
      logger,
      buyers: { eventBridge: { secret: SECRET, maxBodyBytes: 4096 } },
    });
    try {
      const route = createRoute("eventBridge", m, undefined);
      expect(route.maxBodyBytes).toBe(4096);
      await route.serve({ method: "POST", headers: {}, read: async () => "{}", write: written });
      expect(lines.map(([level, , msg]) => [level, msg])).toContainEqual([
        "warn",
        "marketmeter: lifecycle notification refused",
      ]);
    } finally {
      await m.close();
    }
  });

  it("validates its kind and options with coded errors", () => {
    const m = dryMarketplace();
    expect(() => createRoute("nope" as never, m as never, undefined as never)).toThrow(
      expect.objectContaining({ code: "INVALID_ARGUMENT" }),
    );
    expect(() => createRoute("registration", m, { signUpUrl: "//evil" })).toThrow(
      expect.objectContaining({ code: "INVALID_CONFIG" }),
    );
    expect(() => declareHttpSettings(m, { getCustomer: 1 as never })).toThrow(
      expect.objectContaining({ code: "INVALID_CONFIG" }),
    );
    return m.close();
  });
});

describe("problemError", () => {
  it("carries the status conventions and the problem, and is found under a wrapper's cause", () => {
    const p = { type: "urn:marketmeter:problem:x", title: "Payment Required", status: 402, detail: "d" };
    const err = problemError(p, { "retry-after": "5" });
    expect(err).toMatchObject({
      code: "ACCESS_DENIED",
      status: 402,
      statusCode: 402,
      expose: true,
      problem: p,
    });
    expect(err.headers).toEqual({ "retry-after": "5" });
    expect(problemOf(new Error("wrapped", { cause: err }))).toBe(err);
    expect(problemOf(new Error("plain"))).toBeUndefined();
  });
});
