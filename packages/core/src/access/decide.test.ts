import { describe, expect, it } from "vitest";
import { sampleCustomer } from "../directory/conformance.js";
import { decideAccess } from "./decide.js";

const NOW = Date.UTC(2026, 6, 15, 10, 30);
const base = { now: NOW, contract: false, allowUnknownEntitlements: false };

describe("decideAccess", () => {
  it.each([
    ["pending", "pending", 403],
    ["failed", "failed", 402],
    ["cancelled", "cancelled", 402],
  ] as const)("%s → denied (%s, %i)", (status, reason, httpStatus) => {
    expect(decideAccess(sampleCustomer({ status }), base)).toMatchObject({
      allowed: false,
      reason,
      httpStatus,
    });
  });

  it("unknown buyer → not-registered (403)", () => {
    expect(decideAccess(undefined, base)).toMatchObject({
      allowed: false,
      reason: "not-registered",
      httpStatus: 403,
    });
  });

  it("final window: allowed with a flag until it closes", () => {
    const r = sampleCustomer({ status: "unsubscribe-pending", finalWindowEndsAt: NOW + 1 });
    expect(decideAccess(r, base)).toMatchObject({ allowed: true, finalWindow: true });
    expect(decideAccess(r, { ...base, now: NOW + 1 })).toMatchObject({ allowed: false, reason: "cancelled" });
  });

  it("contract products need an active entitlement", () => {
    const contract = { ...base, contract: true };
    expect(decideAccess(sampleCustomer(), contract)).toMatchObject({
      allowed: false,
      reason: "no-entitlement",
    });
    expect(decideAccess(sampleCustomer(), { ...contract, allowUnknownEntitlements: true })).toMatchObject({
      allowed: true,
    });
    const item = { productCode: "p", dimension: "seats" };
    const empty = sampleCustomer({ entitlements: { items: [], fetchedAt: NOW } });
    expect(decideAccess(empty, { ...contract, allowUnknownEntitlements: true })).toMatchObject({
      reason: "no-entitlement",
    });
    const expired = sampleCustomer({
      entitlements: { items: [{ ...item, value: 5, expiresAt: NOW - 1 }], fetchedAt: NOW },
    });
    expect(decideAccess(expired, contract)).toMatchObject({ reason: "no-entitlement" });
    const zero = sampleCustomer({ entitlements: { items: [{ ...item, value: 0 }], fetchedAt: NOW } });
    expect(decideAccess(zero, contract)).toMatchObject({ reason: "no-entitlement" });
    // No ExpirationDate at all: kept as an entitlement without an end.
    const open = sampleCustomer({ entitlements: { items: [{ ...item, value: 3 }], fetchedAt: NOW } });
    expect(decideAccess(open, contract)).toMatchObject({
      allowed: true,
      entitlements: [{ dimension: "seats", value: 3 }],
    });
  });

  it("not-subscribed only when reported after the last activation", () => {
    expect(decideAccess(sampleCustomer({ notSubscribedAt: NOW }), base)).toMatchObject({
      reason: "not-subscribed",
    });
    expect(decideAccess(sampleCustomer({ statusAt: NOW, notSubscribedAt: NOW - 1 }), base)).toMatchObject({
      allowed: true,
    });
  });
});
