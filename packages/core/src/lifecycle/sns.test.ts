process.env.AWS_EC2_METADATA_DISABLED = "true";
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";

import { createSign } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Identity } from "../identity/index.js";
import { type SnsEnvelope, snsStringToSign } from "../sns/index.js";
import { makeSigner, type TestSigner } from "../sns/self-signed.test-helper.js";
import { createBuyers } from "./buyers.js";

const P = "pleg1234567890abcdefghijk";
const SUB_TOPIC = `arn:aws:sns:us-east-1:287250355862:aws-mp-subscription-notification-${P}`;
const ENT_TOPIC = `arn:aws:sns:us-east-1:287250355862:aws-mp-entitlement-notification-${P}`;
const T0 = Date.UTC(2026, 6, 15, 10, 0);

let server: Server;
let origin: string;
let signer: TestSigner;
let confirmations = 0;
let requests = 0;

beforeAll(async () => {
  signer = makeSigner();
  server = createServer((req, res) => {
    requests++;
    if (req.url === "/cert.pem") return res.end(signer.certificatePem);
    if (req.url?.startsWith("/confirm")) {
      confirmations++;
      return res.end("<ConfirmSubscriptionResponse/>");
    }
    res.statusCode = 404;
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

let n = 0;
function message(
  action: string,
  time: number,
  extra: Record<string, string> = {},
  topic = SUB_TOPIC,
): SnsEnvelope {
  const envelope: SnsEnvelope = {
    Type: "Notification",
    MessageId: `msg-${++n}`,
    TopicArn: topic,
    Message: JSON.stringify({
      action,
      "customer-identifier": "cust-ABC123",
      "product-code": P,
      isFreeTrialTermPresent: "false",
      ...extra,
    }),
    Timestamp: new Date(time).toISOString(),
    SignatureVersion: "2",
    Signature: "",
    SigningCertURL: `${origin}/cert.pem`,
  };
  return {
    ...envelope,
    Signature: createSign("RSA-SHA256").update(snsStringToSign(envelope)).sign(signer.privateKey, "base64"),
  };
}

const asRequest = (e: SnsEnvelope) => ({
  method: "POST",
  headers: { "content-type": "text/plain; charset=UTF-8", "x-amz-sns-message-type": e.Type },
  body: Buffer.from(JSON.stringify(e)),
});

function setup(autoConfirm = false) {
  let now = T0;
  const flushed: Identity[] = [];
  const buyers = createBuyers({
    products: [P],
    aws: {
      endpoint: "http://127.0.0.1:9",
      credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" },
    },
    clock: () => now,
    finalMetering: async (id) => {
      flushed.push(id);
    },
    sns: { trustedCertificateOrigins: [origin], autoConfirm },
  });
  return { buyers, flushed, advance: (ms: number) => (now += ms) };
}

const ID = { productCode: P, customerIdentifier: "cust-ABC123" };

describe("legacy SNS lifecycle (signed messages over a real certificate server)", () => {
  it("subscribe-success → active; unsubscribe-pending → final window + one flush; unsubscribe-success → cancelled", async () => {
    const { buyers, flushed, advance } = setup();
    expect((await buyers.handleSns(asRequest(message("subscribe-success", T0)))).outcome).toBe("applied");
    expect(buyers.access(ID)).toMatchObject({ allowed: true, finalWindow: false });
    advance(60_000);
    await buyers.handleSns(asRequest(message("unsubscribe-pending", T0 + 60_000)));
    expect(flushed).toEqual([ID]);
    expect(buyers.access(ID)).toMatchObject({ allowed: true, finalWindow: true });
    advance(60_000);
    await buyers.handleSns(JSON.stringify(message("unsubscribe-success", T0 + 120_000)));
    expect(buyers.access(ID)).toMatchObject({ allowed: false, reason: "cancelled" });
    expect(flushed).toHaveLength(1);
  });

  it("subscribe-fail → failed (402)", async () => {
    const { buyers } = setup();
    await buyers.handleSns(message("subscribe-fail", T0));
    expect(buyers.access(ID)).toMatchObject({ allowed: false, reason: "failed", httpStatus: 402 });
  });

  it("the same MessageId twice is ignored; a modified or foreign-signed message is rejected", async () => {
    const { buyers } = setup();
    const m = message("subscribe-success", T0);
    expect((await buyers.handleSns(m)).outcome).toBe("applied");
    expect((await buyers.handleSns(m)).outcome).toBe("duplicate");
    const tampered = { ...message("subscribe-fail", T0 + 1), Message: m.Message };
    await expect(buyers.handleSns(tampered)).rejects.toMatchObject({ code: "UNAUTHORIZED" });
    expect(buyers.access(ID).allowed).toBe(true);
  });

  it("messages for Concurrent Agreements buyers (no customer-identifier) are ignored", async () => {
    const { buyers } = setup();
    const m = message("subscribe-success", T0);
    const body = JSON.parse(m.Message);
    delete body["customer-identifier"];
    const envelope = { ...m, Message: JSON.stringify(body) };
    const signed = {
      ...envelope,
      Signature: createSign("RSA-SHA256").update(snsStringToSign(envelope)).sign(signer.privateKey, "base64"),
    };
    expect(await buyers.handleSns(signed)).toMatchObject({ outcome: "ignored" });
    expect(buyers.directory.size).toBe(0);
  });

  it("rejects a header Type that contradicts the body", async () => {
    const { buyers } = setup();
    const m = message("subscribe-success", T0);
    await expect(
      buyers.handleSns({
        ...asRequest(m),
        headers: { "x-amz-sns-message-type": "SubscriptionConfirmation" },
      }),
    ).rejects.toMatchObject({ code: "INVALID_NOTIFICATION" });
  });

  it("entitlement-updated from the entitlement topic is accepted (topic derived from the product)", async () => {
    const { buyers } = setup();
    await buyers.handleSns(message("subscribe-success", T0));
    const out = await buyers.handleSns(message("entitlement-updated", T0 + 1, {}, ENT_TOPIC));
    // Not a contract product and no entitlements cached: nothing to refresh.
    expect(out.outcome).toBe("unchanged");
  });

  function confirmation(url: string, topic = SUB_TOPIC): SnsEnvelope {
    const envelope: SnsEnvelope = {
      Type: "SubscriptionConfirmation",
      MessageId: `conf-${++n}`,
      Token: "tok",
      TopicArn: topic,
      Message: "You have chosen to subscribe to the topic",
      SubscribeURL: url,
      Timestamp: new Date(T0).toISOString(),
      SignatureVersion: "1",
      Signature: "",
      SigningCertURL: `${origin}/cert.pem`,
    };
    return {
      ...envelope,
      Signature: createSign("RSA-SHA1").update(snsStringToSign(envelope)).sign(signer.privateKey, "base64"),
    };
  }

  it("confirms subscriptions automatically only when asked and only on trusted origins", async () => {
    const before = confirmations;
    const manual = setup(false).buyers;
    expect(await manual.handleSns(confirmation(`${origin}/confirm?t=1`))).toMatchObject({
      outcome: "confirmation-required",
      subscribeUrl: `${origin}/confirm?t=1`,
    });
    expect(confirmations).toBe(before);
    const auto = setup(true).buyers;
    expect(await auto.handleSns(confirmation(`${origin}/confirm?t=2`))).toMatchObject({
      outcome: "confirmed",
    });
    expect(confirmations).toBe(before + 1);
    await expect(auto.handleSns(confirmation("https://evil.example.com/confirm"))).rejects.toMatchObject({
      code: "UNAUTHORIZED",
    });
    expect(confirmations).toBe(before + 1);
  });

  it("a topic of the right name in another account is refused before anything is fetched, even with autoConfirm", async () => {
    // Anyone can create `aws-mp-subscription-notification-<code>` in their own account and subscribe us.
    const foreign = `arn:aws:sns:us-east-1:123456789012:aws-mp-subscription-notification-${P}`;
    const { buyers } = setup(true);
    const before = requests;
    await expect(
      buyers.handleSns(asRequest(confirmation(`${origin}/confirm?t=3`, foreign))),
    ).rejects.toMatchObject({ code: "UNAUTHORIZED" });
    await expect(
      buyers.handleSns(asRequest(message("unsubscribe-success", T0, {}, foreign))),
    ).rejects.toMatchObject({ code: "UNAUTHORIZED" });
    const unsubscribed = {
      ...confirmation(`${origin}/confirm?t=4`, foreign),
      Type: "UnsubscribeConfirmation" as const,
    };
    await expect(buyers.handleSns(unsubscribed)).rejects.toMatchObject({ code: "UNAUTHORIZED" });
    // Neither the signing certificate nor the SubscribeURL was requested.
    expect(requests).toBe(before);
    expect(buyers.directory.size).toBe(0);
  });

  it("sns.topicOwner lets a test or emulator account own the topics", async () => {
    const own = `arn:aws:sns:us-east-1:111122223333:aws-mp-subscription-notification-${P}`;
    const buyers = createBuyers({
      products: [P],
      aws: {
        endpoint: "http://127.0.0.1:9",
        credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" },
      },
      clock: () => T0,
      sns: { trustedCertificateOrigins: [origin], topicOwner: { accountId: "111122223333" } },
    });
    expect((await buyers.handleSns(message("subscribe-success", T0, {}, own))).outcome).toBe("applied");
    await expect(buyers.handleSns(message("subscribe-success", T0))).rejects.toMatchObject({
      code: "UNAUTHORIZED",
    });
    expect(() =>
      createBuyers({ products: [P], sns: { topicOwner: { accountId: "nope" } } } as never),
    ).toThrow(expect.objectContaining({ code: "INVALID_CONFIG" }));
  });
});
