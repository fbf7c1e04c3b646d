// Properties of the AgentCore client token and of the RegisterUsage signature check.
import { createHash, generateKeyPairSync, sign } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { clientToken, verifyRegistration } from "../src/deployment/index.js";
import { isMarketplaceError } from "../src/index.js";

const input = fc.record({
  deployment: fc.string({ minLength: 1, maxLength: 80 }),
  dimension: fc.string({ minLength: 1, maxLength: 80 }),
  intervalStart: fc.integer({ min: 0, max: 4_102_444_800_000 }),
  sequence: fc.nat({ max: 1_000_000 }),
  // 0: one call; otherwise an interval length (the hour is the default).
  intervalMs: fc.constantFrom(0, 60_000, 300_000, 900_000, 3_600_000),
});

describe("clientToken", () => {
  it("is deterministic: the same usage gives the same token (a resend is the same request)", () => {
    fc.assert(fc.property(input, (i) => clientToken(i) === clientToken({ ...i })));
  });

  it("fits the model: 1-64 characters, and only lowercase hex", () => {
    fc.assert(
      fc.property(input, (i) => {
        const t = clientToken(i);
        return t.length >= 1 && t.length <= 64 && /^[0-9a-f]+$/.test(t);
      }),
    );
  });

  it("distinct usage gives distinct tokens, however the fields are split", () => {
    fc.assert(
      fc.property(input, input, (a, b) => {
        const same =
          a.deployment === b.deployment &&
          a.dimension === b.dimension &&
          a.intervalStart === b.intervalStart &&
          a.sequence === b.sequence &&
          a.intervalMs === b.intervalMs;
        return same === (clientToken(a) === clientToken(b));
      }),
    );
    // Fields that would collide if simply concatenated.
    const x = clientToken({ deployment: "a|b", dimension: "c", intervalStart: 0 });
    const y = clientToken({ deployment: "a", dimension: "b|c", intervalStart: 0 });
    expect(x).not.toBe(y);
    expect(clientToken({ deployment: "d", dimension: "x", intervalStart: 0 })).toBe(
      clientToken({ deployment: "d", dimension: "x", intervalStart: 0, sequence: 0, intervalMs: 3_600_000 }),
    );
    // Hourly tokens are the ones earlier versions sent: a resend across an upgrade is the same request.
    expect(
      clientToken({ deployment: "agent-1", dimension: "calls", intervalStart: Date.UTC(2026, 6, 15, 10) }),
    ).toBe(
      createHash("sha256")
        .update(JSON.stringify(["marketmeter/agentcore/1", "agent-1", "calls", Date.UTC(2026, 6, 15, 10), 0]))
        .digest("hex"),
    );
  });

  it("refuses bad input with INVALID_ARGUMENT", () => {
    for (const bad of [
      null,
      {},
      { deployment: "", dimension: "x", intervalStart: 0 },
      { deployment: "d", dimension: "", intervalStart: 0 },
      { deployment: "d", dimension: "x", intervalStart: 1.5 },
      { deployment: "d", dimension: "x", intervalStart: 0, sequence: -1 },
      { deployment: "d", dimension: "x", intervalStart: 0, intervalMs: -1 },
    ])
      expect(() => clientToken(bad as never)).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
  });
});

describe("verifyRegistration", () => {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const pem = publicKey.export({ type: "spki", format: "pem" }).toString();
  const now = Date.UTC(2026, 6, 15, 10, 30);
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");
  const jwt = (payload: Record<string, unknown>, header: Record<string, unknown> = { alg: "RS256" }) => {
    const data = `${b64(header)}.${b64(payload)}`;
    return `${data}.${sign("sha256", Buffer.from(data), privateKey).toString("base64url")}`;
  };
  const decoded = (t: string) =>
    t
      .split(".")
      .map((p) => Buffer.from(p, "base64url").toString("hex"))
      .join(".");
  const good = { productCode: "prod-1", nonce: "n-1", iat: Math.floor(now / 1000) };
  const expectations = { publicKey: pem, nonce: "n-1", productCode: "prod-1", now };

  it("accepts a token signed with the key, for the nonce and product sent, issued now", () => {
    expect(verifyRegistration(jwt(good), expectations)).toMatchObject(good);
  });

  it("refuses another nonce, product, time, algorithm or key", () => {
    const other = generateKeyPairSync("rsa", { modulusLength: 2048 }).publicKey;
    for (const [token, exp] of [
      [jwt({ ...good, nonce: "n-0" }), expectations],
      [jwt({ ...good, productCode: "prod-2" }), expectations],
      [jwt({ ...good, iat: good.iat - 3600 }), expectations],
      [jwt(good, { alg: "none" }), expectations],
      [jwt(good), { ...expectations, publicKey: other }],
    ] as const)
      expect(() => verifyRegistration(token, exp)).toThrow(
        expect.objectContaining({ code: "INVALID_SIGNATURE" }),
      );
  });

  it("any string or changed token is refused with INVALID_SIGNATURE, never another error", () => {
    const token = jwt(good);
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 300 }),
          // One character of a valid token changed.
          fc
            .tuple(fc.nat({ max: token.length - 1 }), fc.constantFrom(..."AZaz09-_.="))
            .map(([i, c]) => token.slice(0, i) + c + token.slice(i + 1)),
        ),
        (candidate) => {
          if (candidate === token) return true;
          try {
            verifyRegistration(candidate, expectations);
            // Only a spelling of the same bytes (a base64url character differing in its unused bits) passes.
            return decoded(candidate) === decoded(token);
          } catch (err) {
            return isMarketplaceError(err) && err.code === "INVALID_SIGNATURE";
          }
        },
      ),
    );
  });
});
