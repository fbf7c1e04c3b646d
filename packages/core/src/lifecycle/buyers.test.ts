process.env.AWS_EC2_METADATA_DISABLED = "true";
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type CustomerRecord, memoryDirectoryStore } from "../directory/index.js";
import { isMarketplaceError } from "../errors/index.js";
import type { Identity } from "../identity/index.js";
import { type BuyersOptions, createBuyers } from "./buyers.js";

const P = "pca1234567890abcdefghijkl";
const A1 = "123456789012";
const L1 = "arn:aws:license-manager::294406891311:license:l-0123456789abcdef0123456789abcdef";
const T0 = Date.UTC(2026, 6, 15, 10, 0);
const SECRET = "0123456789abcdef-secret";
const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");

let seq = 0;
function event(detailType: string, time: number, detail: Record<string, unknown> = {}, id = `ev-${++seq}`) {
  return {
    version: "0",
    id,
    "detail-type": detailType,
    source: "aws.agreement-marketplace",
    account: "111122223333",
    time: iso(time),
    region: "us-east-1",
    resources: [],
    detail: {
      agreement: { id: "agmt-1" },
      acceptor: { accountId: A1 },
      proposer: { accountId: "111122223333" },
      offer: { id: "offer-1" },
      ...detail,
    },
  };
}
const license = (arn = L1) => ({ product: { code: P, id: "prod-1" }, license: { arn } });
const updated = (time: number, arn?: string) => event("License Updated - Manufacturer", time, license(arn));
const deprovisioned = (time: number) => event("License Deprovisioned - Manufacturer", time, license());
const ended = (time: number, status = "CANCELLED", role = "Manufacturer") =>
  event(`Purchase Agreement Ended - ${role}`, time, { agreement: { id: "agmt-1", status } });

function setup(extra: Partial<BuyersOptions> = {}) {
  let now = T0;
  const flushed: Identity[] = [];
  const buyers = createBuyers({
    products: [P, "poth1234567890abcdefghijk"],
    aws: {
      region: "us-east-1",
      endpoint: "http://127.0.0.1:9",
      credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" },
    },
    clock: () => now,
    finalMetering: async (identity) => {
      flushed.push(identity);
    },
    eventBridge: { secret: SECRET },
    ...extra,
  });
  return {
    buyers,
    flushed,
    advance: (ms: number) => {
      now += ms;
    },
    set: (ms: number) => {
      now = ms;
    },
  };
}
const ID = { productCode: P, customerAWSAccountId: A1, licenseArn: L1 };

describe("EventBridge lifecycle", () => {
  it("License Updated before registration activates the buyer; the docs' ARN without arn: still correlates", async () => {
    const { buyers } = setup();
    const out = await buyers.handleEventBridge(updated(T0, L1.slice(4)));
    expect(out).toMatchObject({ outcome: "applied", action: "license-updated", httpStatus: 200 });
    expect(out.customer).toMatchObject({ status: "active", licenseArn: L1, agreementId: "agmt-1" });
    expect(buyers.access(ID)).toMatchObject({ allowed: true, finalWindow: false });
  });

  it("a cancellation opens the final window, flushes once across both channels and twins, then denies", async () => {
    const { buyers, flushed, advance } = setup();
    await buyers.handleEventBridge(updated(T0));
    advance(60_000);
    const e1 = await buyers.handleEventBridge(ended(T0 + 60_000, "CANCELLED", "Proposer"));
    const e2 = await buyers.handleEventBridge(ended(T0 + 60_000, "CANCELLED", "Manufacturer"));
    const e3 = await buyers.handleEventBridge(deprovisioned(T0 + 61_000));
    expect([e1.outcome, e2.outcome, e3.outcome]).toEqual(["applied", "unchanged", "unchanged"]);
    expect(flushed).toEqual([ID]);
    expect(buyers.access(ID)).toMatchObject({ allowed: true, finalWindow: true });
    advance(3_600_000);
    expect(buyers.access(ID)).toMatchObject({ allowed: false, reason: "cancelled", httpStatus: 402 });
  });

  it("a later cancellation notice does not reopen the window of a cancelled buyer", async () => {
    const { buyers, flushed } = setup();
    await buyers.handleEventBridge(updated(T0));
    await buyers.handleEventBridge(deprovisioned(T0 + 1000));
    // Say the SNS unsubscribe-success made it cancelled; a later License Deprovisioned copy arrives.
    const record = buyers.directory.findByLicense(L1);
    if (!record) throw new Error("record expected");
    await buyers.directory.save({ ...record, status: "cancelled", statusAt: T0 + 2000 });
    const late = await buyers.handleEventBridge(deprovisioned(T0 + 3000));
    expect(late.outcome).toBe("unchanged");
    expect(buyers.directory.findByLicense(L1)?.status).toBe("cancelled");
    expect(buyers.access(ID)).toMatchObject({ allowed: false, reason: "cancelled" });
    expect(flushed).toHaveLength(1);
  });

  it("the same event id twice changes nothing", async () => {
    const { buyers, flushed } = setup();
    await buyers.handleEventBridge(updated(T0));
    const d = deprovisioned(T0 + 1000);
    expect((await buyers.handleEventBridge(d)).outcome).toBe("applied");
    expect((await buyers.handleEventBridge(d)).outcome).toBe("duplicate");
    expect(flushed).toHaveLength(1);
  });

  it("an older event does not overwrite a newer status (out of order)", async () => {
    const { buyers } = setup();
    await buyers.handleEventBridge(deprovisioned(T0 + 5000));
    const late = await buyers.handleEventBridge(updated(T0));
    expect(late.outcome).toBe("stale");
    expect(buyers.directory.findByLicense(L1)?.status).toBe("unsubscribe-pending");
  });

  it("within the same second, lifecycle order wins (cancellation after activation)", async () => {
    const { buyers } = setup();
    await buyers.handleEventBridge(deprovisioned(T0));
    expect((await buyers.handleEventBridge(updated(T0))).outcome).toBe("stale");
  });

  it("a renewal (agreement ended as RENEWED) keeps the license; a later activation re-arms final metering", async () => {
    const { buyers, flushed } = setup();
    await buyers.handleEventBridge(updated(T0));
    expect((await buyers.handleEventBridge(ended(T0 + 1000, "RENEWED"))).outcome).toBe("unchanged");
    expect(flushed).toHaveLength(0);
    await buyers.handleEventBridge(deprovisioned(T0 + 2000));
    await buyers.handleEventBridge(updated(T0 + 3000));
    expect(buyers.directory.findByLicense(L1)).toMatchObject({ status: "active" });
    expect(buyers.directory.findByLicense(L1)?.finalMeteringAt).toBeUndefined();
    await buyers.handleEventBridge(deprovisioned(T0 + 4000));
    expect(flushed).toHaveLength(2);
  });

  it("ignores other products, unknown agreements, other sources and informational events", async () => {
    const { buyers } = setup();
    const foreign = event("License Updated - Manufacturer", T0, {
      ...license(),
      product: { code: "zzz", id: "p" },
    });
    expect((await buyers.handleEventBridge(foreign)).outcome).toBe("ignored");
    expect((await buyers.handleEventBridge(ended(T0))).reason).toBe("unknown agreement");
    expect((await buyers.handleEventBridge({ ...updated(T0), source: "aws.s3" })).outcome).toBe("ignored");
    expect(
      (await buyers.handleEventBridge({ ...updated(T0), "detail-type": "Something Else" })).outcome,
    ).toBe("ignored");
    await buyers.handleEventBridge(updated(T0));
    const created = event("Purchase Agreement Created - Proposer", T0 + 1, {
      agreement: { id: "agmt-1", intent: "NEW" },
    });
    expect((await buyers.handleEventBridge(created)).outcome).toBe("unchanged");
    expect(buyers.directory.size).toBe(1);
  });

  it("accepts the event as JSON text (a queue message body)", async () => {
    const { buyers } = setup();
    expect((await buyers.handleEventBridge(JSON.stringify(updated(T0)))).outcome).toBe("applied");
  });

  it("a failing final-metering hook is retried on the next cancellation notice", async () => {
    let calls = 0;
    const { buyers } = setup({
      finalMetering: async () => {
        calls++;
        if (calls === 1) throw new Error("AWS down");
      },
    });
    await buyers.handleEventBridge(updated(T0));
    await buyers.handleEventBridge(ended(T0 + 1000));
    expect(buyers.directory.findByLicense(L1)?.finalMeteringAt).toBeUndefined();
    await buyers.handleEventBridge(deprovisioned(T0 + 2000));
    expect(calls).toBe(2);
    expect(buyers.directory.findByLicense(L1)?.finalMeteringAt).toBeDefined();
    await buyers.handleEventBridge(ended(T0 + 3000, "EXPIRED", "Proposer"));
    expect(calls).toBe(2);
  });

  it("a store failure while applying leaves the id unseen, so a redelivery is applied", async () => {
    const store = memoryDirectoryStore();
    const save = store.saveCustomer;
    let fail = true;
    store.saveCustomer = (r) => {
      if (fail) throw new Error("disk full");
      return save(r);
    };
    const { buyers } = setup({ directory: store });
    const e = updated(T0);
    await expect(buyers.handleEventBridge(e)).rejects.toMatchObject({ code: "STORE_ERROR" });
    fail = false;
    expect((await buyers.handleEventBridge(e)).outcome).not.toBe("duplicate");
  });

  it("an event whose apply failed is applied on redelivery even when the store could not forget it, and every failure is logged", async () => {
    const store = memoryDirectoryStore();
    const save = store.saveCustomer;
    let down = false;
    store.saveCustomer = (r) => {
      if (down) throw new Error("disk full");
      return save(r);
    };
    store.forgetEvent = () => {
      if (down) throw new Error("disk full");
    };
    const errors: Array<Record<string, unknown>> = [];
    const logger = { debug() {}, info() {}, warn() {}, error: (o: object) => void errors.push(o as never) };
    const { buyers } = setup({ directory: store, logger });
    await buyers.handleEventBridge(updated(T0 - 1000));
    const e = deprovisioned(T0);
    down = true;
    await expect(buyers.handleEventBridge(e)).rejects.toMatchObject({ code: "STORE_ERROR" });
    expect(errors.some((o) => o.eventId === `eventbridge:${e.id}`)).toBe(true);
    expect(JSON.stringify(errors)).not.toContain(SECRET);
    down = false;
    // AWS redelivers: it must be applied and reach the store, not be answered "duplicate".
    expect((await buyers.handleEventBridge(e)).outcome).not.toBe("duplicate");
    const stored = (store.loadCustomers() as Array<{ status: string }>).map((r) => r.status);
    expect(stored).toEqual(["unsubscribe-pending"]);
    expect((await buyers.handleEventBridge(e)).outcome).toBe("duplicate");
  });

  it("concurrent deliveries of one event apply it once", async () => {
    const seen: string[] = [];
    const { buyers, flushed } = setup({ onLifecycleEvent: (_e, o) => void seen.push(o.outcome) });
    await buyers.handleEventBridge(updated(T0));
    seen.length = 0;
    const d = deprovisioned(T0 + 1000);
    const outs = await Promise.all([buyers.handleEventBridge(d), buyers.handleEventBridge(d)]);
    expect(outs.map((o) => o.outcome).sort()).toEqual(["applied", "duplicate"]);
    expect(seen).toEqual(["applied"]);
    expect(flushed).toHaveLength(1);
  });

  it("an event dated in the future is refused (400, logged) and does not pin the buyer's state", async () => {
    const warnings: Array<Record<string, unknown>> = [];
    const logger = { debug() {}, info() {}, error() {}, warn: (o: object) => void warnings.push(o as never) };
    const { buyers, advance } = setup({ logger });
    await buyers.handleEventBridge(updated(T0));
    const forged = deprovisioned(Date.UTC(2099, 0, 1));
    await expect(buyers.handleEventBridge(forged)).rejects.toMatchObject({
      code: "INVALID_NOTIFICATION",
      details: { httpStatus: 400, reason: "future" },
    });
    expect(warnings.some((o) => o.eventId === `eventbridge:${forged.id}`)).toBe(true);
    expect(buyers.directory.findByLicense(L1)).toMatchObject({ status: "active", statusAt: T0 });
    // Later real events still apply, and CustomerNotSubscribed feedback still counts.
    advance(60_000);
    expect((await buyers.handleEventBridge(deprovisioned(T0 + 60_000))).outcome).toBe("applied");
    // A few minutes of clock skew is tolerated, as on the SNS path.
    expect((await buyers.handleEventBridge(ended(T0 + 60_000 + 240_000))).outcome).not.toBe("stale");
  });
});

describe("EventBridge webhook", () => {
  const request = (headers: Record<string, string>, body: unknown, method = "POST") => ({
    method,
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });

  it("accepts the shared secret in the configured header", async () => {
    const { buyers } = setup();
    const out = await buyers.handleEventBridge(
      request({ "x-marketmeter-webhook-secret": SECRET }, updated(T0)),
    );
    expect(out.outcome).toBe("applied");
  });

  it("refuses a wrong, missing or differently sized secret with UNAUTHORIZED (401)", async () => {
    const { buyers } = setup();
    const variants: Array<Record<string, string>> = [
      { "x-marketmeter-webhook-secret": `${SECRET}x` },
      {},
      { "x-marketmeter-webhook-secret": "a" },
    ];
    for (const headers of variants) {
      await expect(buyers.handleEventBridge(request(headers, updated(T0)))).rejects.toMatchObject({
        code: "UNAUTHORIZED",
        details: { httpStatus: 401 },
      });
    }
    expect(buyers.directory.size).toBe(0);
  });

  it("refuses webhook requests when no secret is configured, and wrong methods", async () => {
    const { buyers } = setup({ eventBridge: {} });
    await expect(buyers.handleEventBridge(request({}, updated(T0)))).rejects.toMatchObject({
      code: "UNAUTHORIZED",
    });
    const secured = setup().buyers;
    await expect(
      secured.handleEventBridge(request({ "x-marketmeter-webhook-secret": SECRET }, updated(T0), "GET")),
    ).rejects.toMatchObject({ code: "INVALID_REQUEST", details: { httpStatus: 405 } });
  });

  it("uses a custom header name", async () => {
    const { buyers } = setup({ eventBridge: { secret: SECRET, header: "X-Api-Key" } });
    const out = await buyers.handleEventBridge(request({ "x-api-key": SECRET }, updated(T0)));
    expect(out.outcome).toBe("applied");
  });
});

describe("access", () => {
  it("not registered → 403; bad input → coded error", () => {
    const { buyers } = setup();
    expect(buyers.access(ID)).toMatchObject({ allowed: false, reason: "not-registered", httpStatus: 403 });
    expect(buyers.access({ tenantId: "t" })).toMatchObject({ allowed: false, reason: "not-registered" });
    expect(() => buyers.access({ customerAWSAccountId: "12" } as never)).toThrow(
      expect.objectContaining({ code: "INVALID_IDENTITY" }),
    );
    expect(() => buyers.access(null as never)).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
    expect(() => buyers.access({ tenantId: 5 } as never)).toThrow(
      expect.objectContaining({ code: "INVALID_ARGUMENT" }),
    );
  });

  it("CustomerNotSubscribed from metering denies until a later activation", async () => {
    const { buyers, advance } = setup();
    await buyers.handleEventBridge(updated(T0));
    advance(1000);
    buyers.noteNotSubscribed(ID);
    expect(buyers.access(ID)).toMatchObject({ allowed: false, reason: "not-subscribed", httpStatus: 402 });
    await buyers.handleEventBridge(updated(T0 + 5000));
    expect(buyers.access(ID).allowed).toBe(true);
    // A rejection of usage sent before the activation is ignored.
    buyers.noteNotSubscribed(ID, { at: T0 + 2000 });
    expect(buyers.access(ID).allowed).toBe(true);
    expect(() => buyers.noteNotSubscribed({ productCode: P } as never)).toThrow(
      expect.objectContaining({ code: "INVALID_IDENTITY" }),
    );
  });

  it("checkAccess reads through to the store for a buyer another instance added, in one shared read", async () => {
    const store = memoryDirectoryStore();
    let reads = 0;
    const counted = {
      ...store,
      loadCustomers: () => {
        reads++;
        return store.loadCustomers();
      },
      customersChangedSince: (cursor: string | undefined) => {
        if (cursor !== undefined) reads++;
        return store.customersChangedSince?.(cursor) ?? { records: [], cursor: "0" };
      },
    };
    const { buyers: a } = setup({ directory: store });
    const { buyers: b } = setup({ directory: counted });
    await a.handleEventBridge(updated(T0));
    expect(b.access(ID)).toMatchObject({ allowed: false, reason: "not-registered" });
    reads = 0;
    const other = { ...ID, licenseArn: ID.licenseArn.replace("l-0", "l-9") };
    const answers = await Promise.all([
      b.checkAccess(ID),
      ...Array.from({ length: 20 }, () => b.checkAccess(other)),
    ]);
    expect(answers[0]).toMatchObject({ allowed: true });
    expect(answers.slice(1).every((d) => !d.allowed && d.reason === "not-registered")).toBe(true);
    expect(reads).toBe(1);
    // A known buyer never waits for the store.
    expect(await b.checkAccess(ID)).toMatchObject({ allowed: true });
    expect(reads).toBe(1);
    await Promise.all([a.close(), b.close()]);
  });

  it("an event for a buyer another instance created updates that record instead of a second one", async () => {
    const store = memoryDirectoryStore();
    const { buyers: a } = setup({ directory: store });
    const { buyers: b } = setup({ directory: store });
    await a.handleEventBridge(updated(T0));
    // B has not refreshed yet: it must look in the store before creating the buyer again.
    await b.handleEventBridge(deprovisioned(T0 + 1000));
    const stored = store.loadCustomers() as CustomerRecord[];
    expect(stored.map((r) => r.status)).toEqual(["unsubscribe-pending"]);
    await Promise.all([a.close(), b.close()]);
  });

  it("is fast enough for every request: 100k decisions stay synchronous", async () => {
    const { buyers } = setup();
    await buyers.handleEventBridge(updated(T0));
    let allowed = 0;
    for (let i = 0; i < 100_000; i++) if (buyers.access(ID).allowed) allowed++;
    expect(allowed).toBe(100_000);
  });
});

describe("configuration", () => {
  it("validates options at construction", () => {
    expect(() => createBuyers({ products: [] })).toThrow(expect.objectContaining({ code: "INVALID_CONFIG" }));
    expect(() => createBuyers({ products: ["bad code!"] })).toThrow(/invalid product code/);
    expect(() => createBuyers({ products: [P], eventBridge: { secret: "short" } })).toThrow(/16 characters/);
    expect(() => createBuyers({ products: [P], eventBridge: { header: "bad header" } })).toThrow(/header/);
    expect(() => createBuyers({ products: [P], access: { finalWindowMs: -1 } })).toThrow(/finalWindowMs/);
    expect(() => createBuyers({ products: [P], sns: { trustedCertificateOrigins: ["nope"] } })).toThrow(
      /origins/,
    );
    expect(() => createBuyers(null as never)).toThrow(expect.objectContaining({ code: "INVALID_CONFIG" }));
    for (const bad of [-1, 1.5, "5000"])
      expect(() => createBuyers({ products: [P], directoryRefreshMs: bad as never })).toThrow(
        expect.objectContaining({
          code: "INVALID_CONFIG",
          message: expect.stringMatching(/directoryRefreshMs/),
        }),
      );
  });

  it("close() makes later calls reject with CLOSED", async () => {
    const { buyers } = setup();
    await buyers.close();
    await expect(buyers.handleEventBridge(updated(T0))).rejects.toMatchObject({ code: "CLOSED" });
  });
});

describe("robustness (fast-check)", () => {
  const coded = async (p: Promise<unknown>) => {
    try {
      await p;
      return true;
    } catch (err) {
      return isMarketplaceError(err);
    }
  };

  it("random raw events and JSON never crash the EventBridge handler", async () => {
    const { buyers } = setup();
    const detailTypes = fc.constantFrom(
      "License Updated - Manufacturer",
      "License Deprovisioned - Manufacturer",
      "Purchase Agreement Ended - Proposer",
      "Purchase Agreement Created - Manufacturer",
      "x",
    );
    const eventLike = fc.record(
      {
        id: fc.oneof(fc.string(), fc.integer()),
        "detail-type": fc.oneof(detailTypes, fc.integer()),
        source: fc.oneof(fc.constant("aws.agreement-marketplace"), fc.string()),
        time: fc.oneof(
          fc.string(),
          fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
        ),
        detail: fc.oneof(
          fc.jsonValue(),
          fc.record({
            product: fc.record({ code: fc.oneof(fc.constant(P), fc.string()) }, { requiredKeys: [] }),
            license: fc.record({ arn: fc.oneof(fc.constant(L1), fc.string()) }, { requiredKeys: [] }),
            acceptor: fc.record({ accountId: fc.oneof(fc.constant(A1), fc.string()) }, { requiredKeys: [] }),
            agreement: fc.record({ id: fc.string(), status: fc.string() }, { requiredKeys: [] }),
          }),
        ),
      },
      { requiredKeys: [] },
    );
    await fc.assert(
      fc.asyncProperty(fc.oneof(eventLike, fc.jsonValue(), fc.string(), fc.anything()), async (input) =>
        coded(buyers.handleEventBridge(input)),
      ),
      { numRuns: 400 },
    );
  });

  it("random webhook requests never crash the EventBridge handler", async () => {
    const { buyers } = setup();
    const req = fc.record({
      method: fc.constantFrom("POST", "GET", "PUT"),
      headers: fc
        .tuple(
          fc.dictionary(fc.constantFrom("x-marketmeter-webhook-secret", "content-type", "x"), fc.string()),
          fc.boolean(),
        )
        .map(([h, withSecret]) => (withSecret ? { ...h, "x-marketmeter-webhook-secret": SECRET } : h)),
      body: fc.oneof(
        fc.string(),
        fc.uint8Array({ maxLength: 300 }),
        fc.jsonValue().map((v) => JSON.stringify(v)),
      ),
    });
    await fc.assert(
      fc.asyncProperty(req, async (r) => coded(buyers.handleEventBridge(r))),
      { numRuns: 300 },
    );
  });

  it("random SNS bodies never crash the SNS handler and never trigger a fetch", async () => {
    let fetched = 0;
    const { buyers } = setup({
      sns: {
        fetch: async () => {
          fetched++;
          throw new Error("no network in this test");
        },
      },
    });
    const envelope = fc.record(
      {
        Type: fc.constantFrom("Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation", "x"),
        MessageId: fc.string(),
        TopicArn: fc.oneof(
          fc.constant(`arn:aws:sns:us-east-1:287250355862:aws-mp-subscription-notification-${P}`),
          fc.string(),
        ),
        Message: fc.oneof(
          fc.string(),
          fc.jsonValue().map((v) => JSON.stringify(v)),
        ),
        Timestamp: fc.string(),
        SignatureVersion: fc.constantFrom("1", "2", "3"),
        Signature: fc.base64String(),
        SigningCertURL: fc.oneof(fc.constant("https://evil.example.com/x.pem"), fc.webUrl()),
        Token: fc.string(),
        SubscribeURL: fc.webUrl(),
      },
      { requiredKeys: [] },
    );
    const input = fc.oneof(
      envelope,
      envelope.map((e) => JSON.stringify(e)),
      envelope.map((e) => ({
        method: "POST",
        headers: { "x-amz-sns-message-type": e.Type ?? "" },
        body: JSON.stringify(e),
      })),
      fc.anything(),
    );
    await fc.assert(
      fc.asyncProperty(input, async (i) => coded(buyers.handleSns(i))),
      { numRuns: 400 },
    );
    // Only https://sns.<region>.amazonaws.com certificates could be fetched, and fc.webUrl never makes one.
    expect(fetched).toBe(0);
  });
});
