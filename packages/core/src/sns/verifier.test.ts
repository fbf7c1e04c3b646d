import { createSign } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isMarketplaceError } from "../errors/index.js";
import { parseSnsEnvelope, type SnsEnvelope, snsStringToSign } from "./envelope.js";
import { isTrustedSnsUrl, normalizeOrigins } from "./origins.js";
import { makeSigner, type TestSigner } from "./self-signed.test-helper.js";
import { createSnsVerifier } from "./verifier.js";

const PRODUCT = "pleg1234567890abcdefghijk";
const TOPIC = `arn:aws:sns:us-east-1:287250355862:aws-mp-subscription-notification-${PRODUCT}`;
const NOW = Date.UTC(2026, 6, 15, 10, 30);

let server: Server;
let origin: string;
let trusted: TestSigner;
let attacker: TestSigner;
let expired: TestSigner;
let requests = 0;

beforeAll(async () => {
  trusted = makeSigner();
  attacker = makeSigner();
  expired = makeSigner("sns.expired", {
    from: new Date(Date.UTC(2019, 0, 1)),
    to: new Date(Date.UTC(2021, 0, 1)),
  });
  server = createServer((req, res) => {
    requests++;
    if (req.url === "/cert.pem") res.end(trusted.certificatePem);
    else if (req.url === "/expired.pem") res.end(expired.certificatePem);
    else if (req.url === "/big.pem") res.end("x".repeat(100_000));
    else if (req.url === "/garbage.pem") res.end("not a certificate");
    else {
      res.statusCode = 404;
      res.end();
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

function signed(
  overrides: Partial<SnsEnvelope> = {},
  signer = trusted,
  version: "1" | "2" = "2",
): SnsEnvelope {
  const envelope: SnsEnvelope = {
    Type: "Notification",
    MessageId: "0f3b1c2e-aaaa-bbbb-cccc-000000000001",
    TopicArn: TOPIC,
    Message: JSON.stringify({
      action: "subscribe-success",
      "customer-identifier": "cust-1",
      "product-code": PRODUCT,
    }),
    Timestamp: new Date(NOW - 1000).toISOString(),
    SignatureVersion: version,
    Signature: "",
    SigningCertURL: `${origin}/cert.pem`,
    ...overrides,
  };
  const sig = createSign(version === "1" ? "RSA-SHA1" : "RSA-SHA256")
    .update(snsStringToSign(envelope))
    .sign(signer.privateKey, "base64");
  return { ...envelope, Signature: sig };
}

function verifier(extra: Parameters<typeof createSnsVerifier>[0] = {}) {
  return createSnsVerifier({
    productCodes: [PRODUCT],
    trustedCertificateOrigins: [origin],
    clock: () => NOW,
    ...extra,
  });
}

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "ok";
  } catch (err) {
    return isMarketplaceError(err) ? err.code : `UNCODED ${String(err)}`;
  }
}

describe("SNS signature verification", () => {
  it("accepts SignatureVersion 1 (SHA1withRSA) and 2 (SHA256withRSA), fetching the certificate once", async () => {
    const v = verifier();
    await expect(v.verify(signed({}, trusted, "1"))).resolves.toBeTruthy();
    await expect(v.verify(signed({ MessageId: "m2" }, trusted, "2"))).resolves.toBeTruthy();
    expect(v.certificateFetches).toBe(1);
  });

  it("signs Subject when present and the confirmation fields for SubscriptionConfirmation", async () => {
    const v = verifier();
    await expect(v.verify(signed({ Subject: "hello" }))).resolves.toBeTruthy();
    const confirmation = signed({
      Type: "SubscriptionConfirmation",
      Token: "tok",
      SubscribeURL: `${origin}/confirm?x=1`,
      Message: "You have chosen to subscribe",
    });
    await expect(v.verify(confirmation)).resolves.toBeTruthy();
    await expect(v.verify({ ...confirmation, Token: "other" })).rejects.toMatchObject({
      code: "UNAUTHORIZED",
    });
  });

  it("rejects a message signed by another key (forged)", async () => {
    expect(await code(verifier().verify(signed({}, attacker)))).toBe("UNAUTHORIZED");
  });

  it("rejects a message whose Message was changed after signing", async () => {
    const m = signed();
    expect(
      await code(
        verifier().verify({ ...m, Message: m.Message.replace("subscribe-success", "unsubscribe-success") }),
      ),
    ).toBe("UNAUTHORIZED");
  });

  it("rejects a signature made with the other algorithm's version number", async () => {
    const m = signed({}, trusted, "1");
    expect(await code(verifier().verify({ ...m, SignatureVersion: "2" }))).toBe("UNAUTHORIZED");
  });

  it("rejects stale messages (replays) and messages from the future", async () => {
    const v = verifier({ maxMessageAgeMs: 60_000 });
    const old = signed({ Timestamp: new Date(NOW - 61_000).toISOString() });
    await expect(v.verify(old)).rejects.toMatchObject({
      code: "INVALID_NOTIFICATION",
      details: { reason: "stale" },
    });
    const future = signed({ Timestamp: new Date(NOW + 3_600_000).toISOString() });
    await expect(v.verify(future)).rejects.toMatchObject({
      code: "INVALID_NOTIFICATION",
      details: { reason: "future" },
    });
  });

  it("rejects an untrusted SigningCertURL without fetching it", async () => {
    const before = requests;
    let fetched = 0;
    const v = verifier({
      trustedCertificateOrigins: [],
      fetch: async () => {
        fetched++;
        throw new Error("must not fetch");
      },
    });
    expect(await code(v.verify(signed()))).toBe("UNAUTHORIZED");
    expect(await code(v.verify(signed({ SigningCertURL: "https://evil.example.com/cert.pem" })))).toBe(
      "UNAUTHORIZED",
    );
    expect(
      await code(
        v.verify(signed({ SigningCertURL: "https://sns.us-east-1.amazonaws.com.evil.com/cert.pem" })),
      ),
    ).toBe("UNAUTHORIZED");
    expect(fetched).toBe(0);
    expect(requests).toBe(before);
  });

  it("rejects topics outside the allow-list", async () => {
    const other = "arn:aws:sns:us-east-1:287250355862:aws-mp-subscription-notification-someoneelse";
    expect(await code(verifier().verify(signed({ TopicArn: other })))).toBe("UNAUTHORIZED");
    const exact = verifier({ topicArns: [other] });
    expect(await code(exact.verify(signed({ TopicArn: other })))).toBe("ok");
    expect(await code(exact.verify(signed()))).toBe("UNAUTHORIZED");
  });

  it("accepts AWS Marketplace topics only from its account in us-east-1, whatever signs them", async () => {
    let fetched = 0;
    const v = verifier({
      fetch: async () => {
        fetched++;
        throw new Error("must not fetch");
      },
    });
    // SNS signs every topic of a Region with the same certificate: a valid signature says nothing about
    // who owns the topic, so the owner is checked before anything is fetched.
    for (const arn of [
      `arn:aws:sns:us-east-1:123456789012:aws-mp-subscription-notification-${PRODUCT}`,
      `arn:aws:sns:eu-west-1:287250355862:aws-mp-subscription-notification-${PRODUCT}`,
      `arn:aws:sns:us-east-1:287250355862:aws-mp-other-notification-${PRODUCT}`,
      `arn:aws-cn:sns:cn-north-1:287250355862:aws-mp-subscription-notification-${PRODUCT}`,
      `arn:aws-us-gov:sns:us-gov-west-1:287250355862:aws-mp-entitlement-notification-${PRODUCT}`,
      `${TOPIC}x`,
    ]) {
      expect(v.isAllowedTopic(arn)).toBe(false);
      expect(await code(v.verify(signed({ TopicArn: arn })))).toBe("UNAUTHORIZED");
    }
    expect(fetched).toBe(0);
    expect(verifier().isAllowedTopic(TOPIC.replace("subscription", "entitlement"))).toBe(true);
  });

  it("topicOwner moves the trusted owner (emulator, tests, other partitions) and nothing else", async () => {
    const own = `arn:aws:sns:eu-west-1:111122223333:aws-mp-subscription-notification-${PRODUCT}`;
    const v = verifier({ topicOwner: { accountId: "111122223333", region: "eu-west-1" } });
    expect(await code(v.verify(signed({ TopicArn: own })))).toBe("ok");
    expect(await code(v.verify(signed()))).toBe("UNAUTHORIZED");
    const cn = verifier({
      topicOwner: { partition: "aws-cn", region: "cn-northwest-1", accountId: "444455556666" },
    });
    expect(
      cn.isAllowedTopic(
        `arn:aws-cn:sns:cn-northwest-1:444455556666:aws-mp-subscription-notification-${PRODUCT}`,
      ),
    ).toBe(true);
    expect(
      cn.isAllowedTopic(
        `arn:aws:sns:cn-northwest-1:444455556666:aws-mp-subscription-notification-${PRODUCT}`,
      ),
    ).toBe(false);
    for (const bad of [
      { accountId: "2872503558" },
      { accountId: 287250355862 },
      { accountId: "287250355862", region: "us-east-1:1" },
      { accountId: "287250355862", partition: "aws-evil" },
      "287250355862",
    ])
      expect(() => verifier({ topicOwner: bad as never })).toThrow(
        expect.objectContaining({ code: "INVALID_CONFIG" }),
      );
  });

  it("refuses oversized and invalid certificates and failed downloads", async () => {
    const v = verifier({ maxCertificateBytes: 10_000 });
    expect(await code(v.verify(signed({ SigningCertURL: `${origin}/big.pem` })))).toBe("UNAUTHORIZED");
    expect(await code(v.verify(signed({ SigningCertURL: `${origin}/garbage.pem` })))).toBe("UNAUTHORIZED");
    expect(await code(v.verify(signed({ SigningCertURL: `${origin}/missing.pem` })))).toBe("UNAUTHORIZED");
  });

  it("refuses a certificate outside its validity period (checked against real time, not the business clock)", async () => {
    const v = verifier();
    const byExpired = signed({ SigningCertURL: `${origin}/expired.pem` }, expired);
    expect(await code(v.verify(byExpired))).toBe("UNAUTHORIZED");
    // Valid by its dates at that (real) moment: accepted with the same business clock.
    const thenValid = verifier({ certificateClock: () => Date.UTC(2020, 5, 1) });
    expect(await code(thenValid.verify(byExpired))).toBe("ok");
    // A cached certificate stops being used once it expires.
    let real = Date.UTC(2020, 5, 1);
    const moving = verifier({ certificateClock: () => real });
    expect(await code(moving.verify(byExpired))).toBe("ok");
    real = Date.UTC(2022, 0, 1);
    expect(await code(moving.verify(byExpired))).toBe("UNAUTHORIZED");
  });

  it("times out a certificate download that never answers", async () => {
    const v = verifier({
      certificateTimeoutMs: 20,
      fetch: (_url, init) =>
        new Promise((_resolve, reject) =>
          init.signal.addEventListener("abort", () => reject(init.signal.reason)),
        ),
    });
    expect(await code(v.verify(signed()))).toBe("UNAUTHORIZED");
  });

  it("keeps certificates for the TTL and at most certificateCacheSize of them", async () => {
    let now = NOW;
    const v = createSnsVerifier({
      productCodes: [PRODUCT],
      trustedCertificateOrigins: [origin],
      clock: () => now,
      certificateCacheTtlMs: 1000,
      certificateCacheSize: 1,
    });
    await v.verify(signed());
    await v.verify(signed());
    expect(v.certificateFetches).toBe(1);
    now += 1001;
    await v.verify(signed({ Timestamp: new Date(now).toISOString() }));
    expect(v.certificateFetches).toBe(2);
  });

  it("needs an allow-list", () => {
    expect(() => createSnsVerifier({})).toThrow(/allow-list/);
  });
});

describe("SNS URL origin rules", () => {
  const none = normalizeOrigins(undefined, "x");
  it.each([
    ["https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem", true],
    ["https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-abc.pem", true],
    ["http://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem", false],
    ["https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.txt", false],
    ["https://sns.us-east-1.amazonaws.com:8443/a.pem", false],
    ["https://user:pw@sns.us-east-1.amazonaws.com/a.pem", false],
    ["https://sns.us-east-1.amazonaws.com.attacker.net/a.pem", false],
    ["https://s3.amazonaws.com/a.pem", false],
    ["not a url", false],
  ])("certificate %s → %s", (url, ok) => {
    expect(isTrustedSnsUrl(url, none, "certificate")).toBe(ok);
  });

  it("trusts extra origins exactly (scheme, host and port)", () => {
    const extra = normalizeOrigins(["http://127.0.0.1:4566/"], "x");
    expect(isTrustedSnsUrl("http://127.0.0.1:4566/_emulator/sns/x.pem", extra, "certificate")).toBe(true);
    expect(isTrustedSnsUrl("http://127.0.0.1:4567/_emulator/sns/x.pem", extra, "certificate")).toBe(false);
    expect(isTrustedSnsUrl("https://127.0.0.1:4566/_emulator/sns/x.pem", extra, "certificate")).toBe(false);
    expect(isTrustedSnsUrl("http://127.0.0.1:4566/confirm?t=1", extra, "subscribe")).toBe(true);
    expect(() => normalizeOrigins(["ftp://x"], "sns.trustedCertificateOrigins")).toThrow(/origins/);
  });
});

describe("parseSnsEnvelope", () => {
  it("keeps only SNS fields and checks their types", () => {
    const m = signed();
    expect(parseSnsEnvelope({ ...m, Extra: 1 })).toEqual(m);
    expect(() => parseSnsEnvelope({ ...m, MessageId: 5 })).toThrow(/MessageId/);
    expect(() => parseSnsEnvelope({ ...m, Type: "Other" })).toThrow(/Type/);
    expect(() => parseSnsEnvelope({ ...m, SignatureVersion: "3" })).toThrow(/SignatureVersion/);
    expect(() => parseSnsEnvelope({ ...m, Type: "SubscriptionConfirmation" })).toThrow(/Token/);
    expect(() => parseSnsEnvelope([])).toThrow(/object/);
  });
});
