import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { isMarketplaceError } from "../errors/index.js";
import type { IncomingRequest } from "../registration/index.js";
import { handleRegistration, resolveRegistrationOptions } from "./registration.js";
import { dryMarketplace } from "./testbed.test-helper.js";

const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const m of open.splice(0)) await m.close();
});
const make = () => {
  const m = dryMarketplace();
  open.push(m);
  return m;
};
const APP = "https://app.example";
const TOKEN = "x-amzn-marketplace-token=abc%2Bdef%3D%3D";

function accepts(signUpUrl: string): boolean {
  try {
    resolveRegistrationOptions(make(), { signUpUrl });
    return true;
  } catch (err) {
    if (isMarketplaceError(err) && err.code === "INVALID_CONFIG") return false;
    throw err;
  }
}

/** A marketplace whose register() calls are counted (and then really made). */
function counted() {
  const m = make();
  const calls: IncomingRequest[] = [];
  return {
    calls,
    target: {
      register: (r: IncomingRequest) => {
        calls.push(r);
        return m.register(r);
      },
    },
  };
}

describe("signUpUrl", () => {
  it.each([
    "/\\evil.example",
    "/\\/evil.example",
    "\\\\evil.example",
    "//evil.example",
    "/signup\r\nSet-Cookie: a=1",
    "/signup\nx",
    "/\t/evil.example",
    "/sign up",
    "/signup\u0000",
    "/signup\u2028",
    "https://user:pw@app.example/signup",
    "https:///signup",
    "https://app.example\\@evil.example/",
    "ftp://app.example/signup",
    "signup",
    "",
  ])("refuses %j at creation with INVALID_CONFIG", (bad) => {
    expect(accepts(bad)).toBe(false);
  });

  it.each([
    "/signup",
    "/signup?from=aws#top",
    "/a/b-c_d.e~f%20g",
    "https://app.example/signup?x=1",
    "http://localhost:3000/s",
  ])("accepts %j", (good) => {
    expect(accepts(good)).toBe(true);
  });

  it("a path that is accepted always stays on the app's origin (fast-check)", () => {
    const chars = fc.constantFrom(..."/\\ \t\r\n\u0000\u007f\u00a0\u2028@:.?#%ab-~");
    fc.assert(
      fc.property(fc.string({ unit: chars, maxLength: 12 }), (tail) => {
        const url = `/${tail}`;
        if (!accepts(url)) return;
        expect(new URL(url, APP).origin).toBe(APP);
        expect(url).not.toMatch(/[\\\u0000-\u001f\u007f-\uffff ]/);
      }),
      { numRuns: 400 },
    );
  });

  it("an absolute URL that is accepted is http(s) with a host and no credentials (fast-check)", () => {
    const chars = fc.constantFrom(..."/\\ \t\r\n@:.?#%abcx-");
    fc.assert(
      fc.property(
        fc.constantFrom("https://", "http://", "HTTPS://", "javascript:", "https:/"),
        fc.string({ unit: chars, maxLength: 16 }),
        (scheme, rest) => {
          const url = `${scheme}${rest}`;
          if (!accepts(url)) return;
          const parsed = new URL(url);
          expect(["http:", "https:"]).toContain(parsed.protocol);
          expect(parsed.host).not.toBe("");
          expect(parsed.username + parsed.password).toBe("");
          expect(url).not.toMatch(/[\\\u0000-\u0020\u007f-\uffff]/);
        },
      ),
      { numRuns: 400 },
    );
  });
});

describe("registration route methods", () => {
  it("refuses GET (and HEAD) with 405, Allow: POST and a problem, without reading the token", async () => {
    const { calls, target } = counted();
    const o = resolveRegistrationOptions(target, { signUpUrl: "/signup" });
    for (const method of ["GET", "HEAD", "get"]) {
      const res = await handleRegistration(
        target,
        {
          method,
          headers: { accept: "application/json" },
          url: `/marketplace/register?${TOKEN}`,
          query: TOKEN,
        },
        o,
      );
      expect(res.status).toBe(405);
      expect(res.headers.allow).toBe("POST");
      expect(res.headers["content-type"]).toBe("application/problem+json");
      expect(JSON.parse(res.body)).toMatchObject({ status: 405, code: "INVALID_REQUEST" });
    }
    expect(calls).toHaveLength(0);
  });

  it("ignores a token in the query string of a POST unless allowGet is set", async () => {
    const { calls, target } = counted();
    const o = resolveRegistrationOptions(target, { signUpUrl: "/signup" });
    const res = await handleRegistration(
      target,
      {
        method: "POST",
        headers: { accept: "application/json" },
        url: `/marketplace/register?${TOKEN}`,
        query: TOKEN,
      },
      o,
    );
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body)).toMatchObject({ code: "INVALID_TOKEN" });
    expect(calls).toHaveLength(1);
    expect(calls[0]?.url).toBeUndefined();
    expect(calls[0]?.query).toBeUndefined();
  });

  it("allowGet: true hands GET requests and their query to register()", async () => {
    const { calls, target } = counted();
    const o = resolveRegistrationOptions(target, { signUpUrl: "/signup", allowGet: true });
    const res = await handleRegistration(
      target,
      { method: "GET", headers: { accept: "application/json" }, query: "other=1" },
      o,
    );
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body)).toMatchObject({ code: "INVALID_TOKEN" });
    expect(calls).toHaveLength(1);
    const put = await handleRegistration(
      target,
      { method: "PUT", headers: { accept: "application/json" } },
      o,
    );
    expect(put).toMatchObject({ status: 405, headers: { allow: "GET, POST" } });
    expect(() => resolveRegistrationOptions(target, { signUpUrl: "/s", allowGet: "yes" as never })).toThrow(
      expect.objectContaining({ code: "INVALID_CONFIG" }),
    );
  });
});
