import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseAwsOptions } from "../aws/index.js";
import { isMarketplaceError } from "../errors/index.js";
import { identityFromKey, identityKey, parseIdentity } from "../identity/index.js";
import { memoryStore } from "../stores/index.js";
import { resolveOptions } from "./options.js";

const account = fc.stringMatching(/^[0-9]{12}$/);
const licenseArn = fc
  .stringMatching(/^[0-9a-f]{4,32}$/)
  .map((h) => `arn:aws:license-manager::294406891311:license:l-${h}`);
const product = fc.stringMatching(/^[a-zA-Z0-9_.@=:/-]{1,40}$/);
const customer = fc.string({ minLength: 1, maxLength: 60 });

describe("identity parser (property)", () => {
  it("valid identities parse to their mode and keys round-trip", () => {
    const arb = fc.oneof(
      fc.record({ productCode: product, customerIdentifier: customer }),
      fc.record({ productCode: product, customerAWSAccountId: account }),
      fc.record({ productCode: product, customerAWSAccountId: account, licenseArn }),
    );
    fc.assert(
      fc.property(arb, (input) => {
        const id = parseIdentity(input);
        expect(id).toEqual(input);
        expect(identityFromKey(identityKey(id))).toEqual(id);
      }),
    );
  });

  it("malformed account ids, license ARNs and mixed identities are refused with INVALID_IDENTITY", () => {
    const badAccount = fc.oneof(
      fc.stringMatching(/^[0-9]{1,11}$/),
      fc.stringMatching(/^[0-9]{13,20}$/),
      fc.stringMatching(/^[0-9]{5}[a-z][0-9]{6}$/),
    );
    const badArn = fc.oneof(
      fc.constant("lic-123"),
      fc.constant("aws:license-manager::1:license:l-1"),
      fc.string({ maxLength: 10 }).filter((s) => !s.startsWith("arn:")),
    );
    const arb = fc.oneof(
      fc.record({ productCode: product, customerAWSAccountId: badAccount }),
      fc.record({
        productCode: product,
        customerAWSAccountId: account,
        licenseArn: badArn.filter((s) => s !== ""),
      }),
      fc.record({ productCode: product, customerIdentifier: customer, customerAWSAccountId: account }),
      fc.record({ productCode: product, licenseArn }),
    );
    fc.assert(
      fc.property(arb, (input) => {
        let err: unknown;
        try {
          parseIdentity(input);
        } catch (e) {
          err = e;
        }
        expect(isMarketplaceError(err, "INVALID_IDENTITY")).toBe(true);
      }),
    );
  });
});

describe("options parser (property)", () => {
  const base = { products: [{ productCode: "pca" }], dimensions: ["api_calls"], store: memoryStore() };

  it("accepts valid numeric options and keeps them", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 3 * 3_600_000 }),
        fc.integer({ min: 10, max: 60_000 }),
        fc.double({ min: 0.01, max: 1000, noNaN: true }),
        (gracePeriodMs, checkpointIntervalMs, callsPerSecond) => {
          const o = resolveOptions({ ...base, gracePeriodMs, checkpointIntervalMs, callsPerSecond });
          expect(o).toMatchObject({ gracePeriodMs, checkpointIntervalMs, callsPerSecond });
          expect(o.reportIntervalMs).toBeGreaterThanOrEqual(checkpointIntervalMs);
        },
      ),
    );
  });

  it("refuses out-of-range or mistyped values with INVALID_CONFIG", () => {
    const bad = fc.oneof(
      fc.record({
        gracePeriodMs: fc.oneof(
          fc.integer({ max: -1 }),
          fc.integer({ min: 3 * 3_600_000 + 1 }),
          fc.constant(1.5),
        ),
      }),
      fc.record({ checkpointIntervalMs: fc.oneof(fc.integer({ max: 9 }), fc.integer({ min: 60_001 })) }),
      fc.record({
        callsPerSecond: fc.oneof(
          fc.constant(0),
          fc.integer({ max: -1 }),
          fc.double({ min: 1000.5, max: 1e9 }),
          fc.constant(Number.NaN),
        ),
      }),
      fc.record({
        dimensions: fc.oneof(
          fc.constant([]),
          fc.constant(["a", "a"]),
          fc.constant([""]),
          fc.constant(["a\u0001"]),
        ),
      }),
      fc.record({
        products: fc.oneof(fc.constant([]), fc.constant([{ productCode: "bad code!" }]), fc.constant("pca")),
      }),
      fc.record({ dryRun: fc.constantFrom("yes", 1) }),
      fc.record({ logger: fc.constant({ info() {} }) }),
      fc.record({ [`x${Math.random()}`]: fc.constant(1) }),
    );
    fc.assert(
      fc.property(bad, (patch) => {
        let err: unknown;
        try {
          resolveOptions({ ...base, ...patch });
        } catch (e) {
          err = e;
        }
        expect(isMarketplaceError(err, "INVALID_CONFIG")).toBe(true);
      }),
    );
  });

  it("defaults", () => {
    const o = resolveOptions({ products: [{ productCode: "pca" }], dimensions: ["d"] });
    expect(o).toMatchObject({
      gracePeriodMs: 300_000,
      checkpointIntervalMs: 1000,
      reportIntervalMs: 10_000,
      callsPerSecond: 10,
      leaseMs: 60_000,
      windowWarningMs: 3 * 3_600_000,
      dryRun: false,
      autoStart: true,
    });
    expect(o.store.kind).toBe("memory");
    expect(o.aws.region).toBe("us-east-1");
  });

  it("aws options", () => {
    expect(parseAwsOptions({ region: "eu-west-1", endpoint: "http://127.0.0.1:1" })).toMatchObject({
      region: "eu-west-1",
    });
    for (const bad of [
      { region: "x" },
      { endpoint: "ftp://x" },
      { maxAttempts: 0 },
      { credentials: { accessKeyId: 1 } },
      { what: 1 },
    ])
      expect(() => parseAwsOptions(bad)).toThrow(expect.objectContaining({ code: "INVALID_CONFIG" }));
  });
});

describe("lease against the call deadline (property)", () => {
  it("leaseMs is accepted exactly when it outlasts the worst-case call plus the margin", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 120_000 }),
        fc.integer({ min: 1, max: 10 }),
        fc.integer({ min: 1000, max: 3_600_000 }),
        (requestTimeoutMs, maxAttempts, leaseMs) => {
          const options = {
            products: [{ productCode: "prod-abc" }],
            dimensions: ["d"],
            aws: { requestTimeoutMs, maxAttempts },
            leaseMs,
          };
          const worst = maxAttempts * (requestTimeoutMs + Math.min(5000, requestTimeoutMs)) + 5000;
          if (leaseMs > worst) expect(resolveOptions(options).leaseMs).toBe(leaseMs);
          else
            expect(() => resolveOptions(options)).toThrow(
              expect.objectContaining({ code: "INVALID_CONFIG", message: expect.stringMatching(/leaseMs/) }),
            );
        },
      ),
    );
  });
});
