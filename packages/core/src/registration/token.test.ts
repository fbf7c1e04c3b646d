import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isMarketplaceError } from "../errors/index.js";
import { hashToken, parseRegistrationForm } from "./token.js";

const FORM = { "content-type": "application/x-www-form-urlencoded" };
const TOKEN = "AbC+dEf/GhI=jK==";

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return isMarketplaceError(err) ? `${err.code}:${err.details?.httpStatus}` : "UNCODED";
  }
  return undefined;
}

describe("parseRegistrationForm", () => {
  it("decodes a percent-encoded token with + / = from a form body", () => {
    const body = new URLSearchParams({ "x-amzn-marketplace-token": TOKEN }).toString();
    expect(body).toContain("%2B");
    expect(parseRegistrationForm({ method: "POST", headers: FORM, body }, 16384)).toEqual({
      token: TOKEN,
      freeTrial: false,
    });
  });

  it("accepts bytes, a charset parameter and the free-trial marker", () => {
    const body = Buffer.from(
      `x-amzn-marketplace-token=${encodeURIComponent(TOKEN)}&x-amzn-marketplace-offer-type=free-trial`,
    );
    const form = parseRegistrationForm(
      {
        method: "POST",
        headers: { "Content-Type": "application/x-www-form-urlencoded; charset=UTF-8" },
        body,
      },
      16384,
    );
    expect(form).toEqual({ token: TOKEN, freeTrial: true });
  });

  it("restores + in a token that was posted without percent-encoding", () => {
    const body = `x-amzn-marketplace-token=${TOKEN}`;
    expect(parseRegistrationForm({ method: "POST", headers: FORM, body }, 16384).token).toBe(TOKEN);
  });

  it("reads the token from the query (string, URLSearchParams, parsed object, url)", () => {
    const q = `x-amzn-marketplace-token=${encodeURIComponent(TOKEN)}`;
    expect(parseRegistrationForm({ method: "GET", query: `?${q}` }, 100).token).toBe(TOKEN);
    expect(parseRegistrationForm({ method: "GET", query: new URLSearchParams(q) }, 100).token).toBe(TOKEN);
    // Express's query parser already decoded it, turning + into a space.
    expect(
      parseRegistrationForm(
        { method: "GET", query: { "x-amzn-marketplace-token": TOKEN.replace(/\+/g, " ") } },
        100,
      ).token,
    ).toBe(TOKEN);
    expect(parseRegistrationForm({ method: "POST", url: `/fulfillment?${q}` }, 100).token).toBe(TOKEN);
  });

  it("accepts a body a framework already parsed", () => {
    const form = parseRegistrationForm(
      {
        method: "POST",
        headers: FORM,
        body: { "x-amzn-marketplace-token": TOKEN, "x-amzn-marketplace-offer-type": "free-trial" },
      },
      100,
    );
    expect(form).toEqual({ token: TOKEN, freeTrial: true });
  });

  it("refuses wrong methods, content types, big bodies and missing tokens with coded errors", () => {
    expect(codeOf(() => parseRegistrationForm({ method: "PUT", headers: FORM, body: "x" }, 100))).toBe(
      "INVALID_REQUEST:405",
    );
    expect(
      codeOf(() =>
        parseRegistrationForm(
          { method: "POST", headers: { "content-type": "application/json" }, body: "{}" },
          100,
        ),
      ),
    ).toBe("INVALID_REQUEST:415");
    expect(
      codeOf(() =>
        parseRegistrationForm(
          { method: "POST", headers: FORM, body: `x-amzn-marketplace-token=${"a".repeat(200)}` },
          100,
        ),
      ),
    ).toBe("INVALID_REQUEST:413");
    expect(codeOf(() => parseRegistrationForm({ method: "POST", headers: FORM, body: "a=b" }, 100))).toBe(
      "INVALID_TOKEN:400",
    );
    expect(
      codeOf(() =>
        parseRegistrationForm({ method: "POST", headers: FORM, body: "x-amzn-marketplace-token=" }, 100),
      ),
    ).toBe("INVALID_TOKEN:400");
    expect(
      codeOf(() =>
        parseRegistrationForm({ method: "POST", headers: FORM, body: "x-amzn-marketplace-token=a%00b" }, 100),
      ),
    ).toBe("INVALID_TOKEN:400");
    expect(codeOf(() => parseRegistrationForm(null as never, 100))).toBe("INVALID_REQUEST:400");
  });

  it("tells the buyer how to recover", () => {
    try {
      parseRegistrationForm({ method: "POST", headers: FORM, body: "a=b" }, 100);
    } catch (err) {
      expect(String((err as Error).message)).toMatch(/Set up your account/);
    }
    expect.assertions(1);
  });

  it("property: any base64-like token survives form encoding", () => {
    const tokenArb = fc.stringMatching(/^[A-Za-z0-9+/=_-]{1,300}$/);
    fc.assert(
      fc.property(tokenArb, fc.boolean(), (token, trial) => {
        const params = new URLSearchParams({ "x-amzn-marketplace-token": token });
        if (trial) params.set("x-amzn-marketplace-offer-type", "free-trial");
        const form = parseRegistrationForm({ method: "POST", headers: FORM, body: params.toString() }, 16384);
        return form.token === token && form.freeTrial === trial;
      }),
    );
  });

  it("property: random requests never crash with anything but a coded error", () => {
    const headers = fc.option(
      fc.dictionary(
        fc.constantFrom("content-type", "Content-Type", "x-y"),
        fc.oneof(fc.string(), fc.array(fc.string())),
      ),
      { nil: undefined },
    );
    const body = fc.oneof(
      fc.string(),
      fc.uint8Array({ maxLength: 400 }),
      fc.dictionary(fc.string(), fc.jsonValue()),
      fc.constant(null),
      fc.constant(undefined),
    );
    const request = fc.record({
      method: fc.option(fc.constantFrom("POST", "GET", "post", "DELETE", ""), { nil: undefined }),
      headers,
      body,
      query: fc.option(fc.oneof(fc.string(), fc.dictionary(fc.string(), fc.jsonValue())), { nil: undefined }),
      url: fc.option(fc.string(), { nil: undefined }),
    });
    fc.assert(
      fc.property(request, (req) => {
        const code = codeOf(() => parseRegistrationForm(req as never, 256));
        return code !== "UNCODED";
      }),
      { numRuns: 500 },
    );
  });
});

describe("hashToken", () => {
  it("is a stable SHA-256 hex digest that does not contain the token", () => {
    expect(hashToken(TOKEN)).toMatch(/^[0-9a-f]{64}$/);
    expect(hashToken(TOKEN)).toBe(hashToken(TOKEN));
    expect(hashToken(TOKEN)).not.toBe(hashToken(`${TOKEN}x`));
  });
});
