import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MarketplaceError } from "../errors/index.js";
import {
  escapeHtml,
  prefersJson,
  problem,
  problemFromError,
  problemPage,
  problemResponse,
} from "./problem.js";
import { withQueryParam } from "./registration.js";

describe("prefersJson", () => {
  it.each([
    [undefined, false],
    ["", false],
    ["*/*", false],
    ["application/json", true],
    ["application/problem+json", true],
    ["text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", false],
    ["application/json, text/html", true],
    ["text/html, application/json", false],
    ["text/html;q=0.5, application/json", true],
    ["application/json;q=0", false],
    ["application/json;q=abc", false],
  ])("%s → %s", (accept, expected) => {
    expect(prefersJson(accept)).toBe(expected);
  });
});

describe("problem bodies", () => {
  it("builds RFC 9457 objects with a URN type and the status phrase as title", () => {
    expect(problem(402, "subscription-cancelled", "ended", { reason: "cancelled" })).toEqual({
      type: "urn:marketmeter:problem:subscription-cancelled",
      title: "Payment Required",
      status: 402,
      detail: "ended",
      reason: "cancelled",
    });
    const res = problemResponse(problem(403, "x", "no"), { "retry-after": "5" });
    expect(res.headers).toMatchObject({ "content-type": "application/problem+json", "retry-after": "5" });
    expect(JSON.parse(res.body)).toMatchObject({ status: 403 });
  });

  it("maps coded errors by details.httpStatus and hides server-side messages", () => {
    const token = new MarketplaceError("EXPIRED_TOKEN", "Your link expired.", {
      details: { httpStatus: 400 },
    });
    expect(problemFromError(token)).toMatchObject({
      status: 400,
      code: "EXPIRED_TOKEN",
      detail: "Your link expired.",
    });
    const aws = new MarketplaceError("AWS_UNAVAILABLE", "connect ECONNREFUSED 10.0.0.1:443");
    expect(problemFromError(aws, "try later")).toMatchObject({
      status: 503,
      detail: "try later",
      code: "AWS_UNAVAILABLE",
    });
    expect(problemFromError(new Error("secret internals"), "generic")).toMatchObject({
      status: 500,
      detail: "generic",
    });
    expect(
      problemFromError(new MarketplaceError("INVALID_REQUEST", "x", { details: { httpStatus: 999 } })).status,
    ).toBe(400);
  });

  it("escapes everything it puts into the HTML page", () => {
    fc.assert(
      fc.property(fc.string(), (detail) => {
        const page = problemPage(problem(400, "x", `<script>${detail}</script>`));
        expect(page).not.toContain("<script>");
        expect(page).toContain(escapeHtml(detail));
      }),
    );
  });
});

describe("withQueryParam", () => {
  it("keeps paths, existing queries and fragments", () => {
    expect(withQueryParam("/signup", "registration", "reg_a")).toBe("/signup?registration=reg_a");
    expect(withQueryParam("/signup?plan=pro#top", "registration", "reg_a")).toBe(
      "/signup?plan=pro&registration=reg_a#top",
    );
    expect(withQueryParam("https://app.example/s?", "r", "a b")).toBe("https://app.example/s?r=a%20b");
  });

  it("always yields a URL whose parameter reads back exactly (property)", () => {
    fc.assert(
      fc.property(
        fc.constantFrom("/signup", "/a/b?x=1", "https://example.com/p?q=2#frag", "/s?"),
        fc.string({ minLength: 1 }),
        (base, value) => {
          const url = new URL(withQueryParam(base, "registration", value), "http://host.invalid");
          expect(url.searchParams.get("registration")).toBe(value);
          if (base.includes("x=1")) expect(url.searchParams.get("x")).toBe("1");
          if (base.includes("#frag")) expect(url.hash).toBe("#frag");
        },
      ),
    );
  });
});
