import { generateKeyPairSync, sign, verify, X509Certificate } from "node:crypto";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import fc from "fast-check";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  createNotifier,
  isLoopbackHost,
  isNotifierError,
  type MarketplaceEvent,
  type Notifier,
  type NotifierOptions,
  type SnsEnvelope,
  snsStringToSign,
  toSqsBody,
} from "../src/notify/index.js";
import type { LifecycleNotification } from "../src/types.js";

// The demo fixtures (see BEHAVIOURS.md).
const SELLER = "111122223333";
const A1 = "123456789012";
const L1 = "arn:aws:license-manager::294406891311:license:l-0123456789abcdef0123456789abcdef";
const P_CA = "pca1234567890abcdefghijkl";
const P_L = "pleg1234567890abcdefghijk";
const C1 = "cust-ABC123";
const NOW = new Date("2026-07-15T10:30:00.000Z");

interface Received {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A real HTTP receiver on 127.0.0.1 that records requests and answers from a per-path status script. */
class Receiver {
  readonly requests: Received[] = [];
  /** Statuses to answer, per path, consumed in order; 200 when exhausted. */
  readonly script = new Map<string, number[]>();
  hang = false;
  private server: Server;
  port = 0;

  constructor() {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const path = req.url ?? "/";
        this.requests.push({
          method: req.method ?? "",
          path,
          headers: req.headers,
          body: Buffer.concat(chunks).toString("utf8"),
        });
        if (this.hang) return; // never answer: exercises timeouts and close()
        const status = this.script.get(path)?.shift() ?? 200;
        res.writeHead(status, { "content-type": "text/plain" });
        res.end(status < 300 ? "ok" : "nope");
      });
    });
  }
  async start(): Promise<this> {
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", r));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }
  url(path: string): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }
  at(path: string): Received[] {
    return this.requests.filter((r) => r.path === path);
  }
  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

/** A small server that mounts `notifier.handle()` like the emulator does, so the cert is fetched over HTTP. */
class NotifierHost {
  notifier: Notifier | undefined;
  private server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", this.baseUrl());
    if (this.notifier?.handle(req, res, url)) return;
    res.writeHead(404);
    res.end();
  });
  port = 0;
  baseUrl = () => `http://127.0.0.1:${this.port}`;
  async start(): Promise<this> {
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", r));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }
  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

/** The canonical SNS string, written independently of the implementation under test. */
function canonical(e: Record<string, string | undefined>): string {
  const keys =
    e.Type === "Notification"
      ? ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
      : ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"];
  return keys
    .filter((k) => e[k] !== undefined)
    .map((k) => `${k}\n${e[k]}\n`)
    .join("");
}

async function fetchCert(certUrl: string): Promise<X509Certificate> {
  const res = await fetch(certUrl);
  expect(res.status).toBe(200);
  return new X509Certificate(await res.text());
}

function verifySns(e: SnsEnvelope | Record<string, string>, cert: X509Certificate): boolean {
  const algorithm = e.SignatureVersion === "1" ? "sha1" : "sha256";
  return verify(
    algorithm,
    Buffer.from(canonical(e as Record<string, string>), "utf8"),
    cert.publicKey,
    Buffer.from(e.Signature as string, "base64"),
  );
}

let receiver: Receiver;
let host: NotifierHost;
const notifiers: Notifier[] = [];

function make(webhooks: NotifierOptions["webhooks"], extra: Partial<NotifierOptions> = {}): Notifier {
  const n = createNotifier({
    webhooks,
    sellerAccountId: SELLER,
    baseUrl: host.baseUrl,
    now: () => NOW,
    delivery: { attempts: 3, backoffMs: 1, timeoutMs: 2000 },
    ...extra,
  });
  host.notifier = n;
  notifiers.push(n);
  return n;
}

beforeEach(async () => {
  receiver = await new Receiver().start();
  host = await new NotifierHost().start();
});

afterEach(async () => {
  for (const n of notifiers.splice(0)) await n.close();
  await receiver.stop();
  await host.stop();
});

const caBase = {
  productCode: P_CA,
  productId: "prod-abcdefghijklm",
  customerAWSAccountId: A1,
  licenseArn: L1,
  agreementId: "agmt-1111111111111111111111111",
  offerId: "offer-2222222222222",
  time: NOW,
} satisfies Partial<LifecycleNotification>;

function events(path: string): MarketplaceEvent[] {
  return receiver.at(path).map((r) => JSON.parse(r.body) as MarketplaceEvent);
}

function snsMessages(path: string): Array<{ req: Received; env: Record<string, string> }> {
  return receiver.at(path).map((req) => ({ req, env: JSON.parse(req.body) as Record<string, string> }));
}

describe("EventBridge events", () => {
  it("eventbridge.agreement-events: agreement-created sends Purchase Agreement Created - Proposer then - Manufacturer with the AWS shape", async () => {
    const n = make({ eventBridge: [{ url: receiver.url("/events"), secret: "s3cr3t" }] });
    await n.emit({ ...caBase, action: "agreement-created" });

    const reqs = receiver.at("/events");
    expect(reqs).toHaveLength(2);
    for (const r of reqs) {
      expect(r.method).toBe("POST");
      expect(r.headers["content-type"]).toMatch(/^application\/json/);
      expect(r.headers["x-marketmeter-webhook-secret"]).toBe("s3cr3t");
    }
    const [proposer, manufacturer] = events("/events");
    expect(proposer?.["detail-type"]).toBe("Purchase Agreement Created - Proposer");
    expect(manufacturer?.["detail-type"]).toBe("Purchase Agreement Created - Manufacturer");
    expect(proposer?.id).not.toBe(manufacturer?.id);
    expect(proposer).toMatchObject({
      version: "0",
      source: "aws.agreement-marketplace",
      account: SELLER,
      time: "2026-07-15T10:30:00Z",
      region: "us-east-1",
      resources: [],
      detail: {
        agreement: {
          id: caBase.agreementId,
          intent: "NEW",
          status: "ACTIVE",
          acceptanceTime: "2026-07-15T10:30:00Z",
          startTime: "2026-07-15T10:30:00Z",
          endTime: "2027-07-15T10:30:00Z",
        },
        acceptor: { accountId: A1 },
        proposer: { accountId: SELLER },
        offer: { id: caBase.offerId },
      },
    });
    expect(proposer?.id).toMatch(/^[0-9a-f-]{36}$/);
    // Agreement events are not a metering trigger: they never name the license.
    expect(proposer?.detail.license).toBeUndefined();
    expect(manufacturer?.detail.license).toBeUndefined();

    const log = n.deliveries();
    expect(log.map((d) => [d.kind, d.type, d.status, d.attempts])).toEqual([
      ["eventbridge", "Purchase Agreement Created - Proposer", 200, 1],
      ["eventbridge", "Purchase Agreement Created - Manufacturer", 200, 1],
    ]);
  });

  it("eventbridge.agreement-events: amended carries intent AMEND; ended carries only id and status; custom secret header", async () => {
    const n = make({ eventBridge: [{ url: receiver.url("/e"), secret: "k", header: "X-Api-Key" }] });
    await n.emit({ ...caBase, action: "agreement-amended" });
    await n.emit({ ...caBase, action: "agreement-ended", agreementStatus: "EXPIRED" });
    const [amP, amM, endP, endM] = events("/e");
    expect([amP, amM, endP, endM].map((e) => e?.["detail-type"])).toEqual([
      "Purchase Agreement Amended - Proposer",
      "Purchase Agreement Amended - Manufacturer",
      "Purchase Agreement Ended - Proposer",
      "Purchase Agreement Ended - Manufacturer",
    ]);
    expect(amM?.detail.agreement).toMatchObject({ intent: "AMEND", status: "ACTIVE" });
    expect(endM?.detail.agreement).toEqual({ id: caBase.agreementId, status: "EXPIRED" });
    expect(receiver.at("/e").every((r) => r.headers["x-api-key"] === "k")).toBe(true);
    expect(receiver.at("/e").every((r) => r.headers["x-marketmeter-webhook-secret"] === undefined)).toBe(
      true,
    );
  });

  it("eventbridge.license-events: License Updated / Deprovisioned - Manufacturer carry product, license and acceptor", async () => {
    const n = make({ eventBridge: [{ url: receiver.url("/e") }] });
    await n.emit({ ...caBase, action: "license-updated" });
    await n.emit({ ...caBase, action: "license-deprovisioned" });
    const [updated, deprovisioned] = events("/e");
    expect(events("/e")).toHaveLength(2);
    expect(updated?.["detail-type"]).toBe("License Updated - Manufacturer");
    expect(deprovisioned?.["detail-type"]).toBe("License Deprovisioned - Manufacturer");
    for (const e of [updated, deprovisioned]) {
      expect(e?.detail).toMatchObject({
        agreement: { id: caBase.agreementId },
        product: { code: P_CA, id: "prod-abcdefghijklm" },
        license: { arn: L1 },
        acceptor: { accountId: A1 },
        proposer: { accountId: SELLER },
        offer: { id: caBase.offerId },
      });
    }
    // No secret configured → no secret header.
    expect(receiver.at("/e")[0]?.headers["x-marketmeter-webhook-secret"]).toBeUndefined();
  });

  it('eventbridge.license-arn-format: eventLicenseArnFormat "docExample" drops the arn: prefix like the AWS docs sample', async () => {
    const n = make({ eventBridge: [{ url: receiver.url("/e") }] }, { eventLicenseArnFormat: "docExample" });
    await n.emit({ ...caBase, action: "license-updated" });
    expect(events("/e")[0]?.detail.license?.arn).toBe(
      "aws:license-manager::294406891311:license:l-0123456789abcdef0123456789abcdef",
    );
  });

  it("derives stable product and offer ids when the notification has none", async () => {
    const n = make({ eventBridge: [{ url: receiver.url("/e") }] });
    const { productId: _p, offerId: _o, ...bare } = caBase;
    await n.emit({ ...bare, action: "license-updated" });
    await n.emit({ ...bare, action: "license-updated" });
    const [a, b] = events("/e");
    expect(a?.detail.product?.id).toMatch(/^prod-[0-9a-f]{13}$/);
    expect(a?.detail.offer.id).toMatch(/^offer-[0-9a-f]{13}$/);
    expect(b?.detail.product?.id).toBe(a?.detail.product?.id);
    expect(b?.detail.offer.id).toBe(a?.detail.offer.id);
  });

  it("eventbridge.legacy-separate: legacy actions produce no EventBridge event and agreement actions no SNS message", async () => {
    const n = make({ eventBridge: [{ url: receiver.url("/e") }], sns: [{ url: receiver.url("/sns") }] });
    await n.emit({ action: "subscribe-success", productCode: P_L, customerIdentifier: C1, time: NOW });
    expect(receiver.at("/e")).toHaveLength(0);
    expect(receiver.at("/sns").length).toBeGreaterThan(0);
    const before = receiver.at("/sns").length;
    await n.emit({ ...caBase, action: "license-updated" });
    expect(receiver.at("/sns")).toHaveLength(before);
    expect(receiver.at("/e")).toHaveLength(1);
  });

  it("rejects notifications that lack what the events need, with coded errors", async () => {
    const n = make({ eventBridge: [{ url: receiver.url("/e") }] });
    const { licenseArn: _l, ...noLicense } = caBase;
    await expect(n.emit({ ...noLicense, action: "license-updated" })).rejects.toMatchObject({
      code: "INVALID_NOTIFICATION",
      message: expect.stringContaining("licenseArn"),
    });
    const { agreementId: _a, ...noAgreement } = caBase;
    await expect(n.emit({ ...noAgreement, action: "agreement-created" })).rejects.toMatchObject({
      code: "INVALID_NOTIFICATION",
    });
    await expect(n.emit({ ...caBase, action: "bogus" as never })).rejects.toMatchObject({
      code: "INVALID_NOTIFICATION",
    });
    await expect(
      n.emit({ ...caBase, action: "license-updated", time: new Date(Number.NaN) }),
    ).rejects.toMatchObject({
      code: "INVALID_NOTIFICATION",
    });
    await expect(n.emit({ action: "subscribe-success", productCode: P_L, time: NOW })).rejects.toMatchObject({
      code: "INVALID_NOTIFICATION",
    });
    expect(receiver.requests).toHaveLength(0);
  });
});

describe("SNS HTTP notifications", () => {
  it("sns.confirmation-first, sns.message-body: sends a signed SubscriptionConfirmation before the first Notification, with SNS headers and envelope", async () => {
    const n = make({ sns: [{ url: receiver.url("/sns") }] });
    await n.emit({
      action: "subscribe-success",
      productCode: P_L,
      customerIdentifier: C1,
      offerId: "offer-abc",
      isFreeTrialTermPresent: true,
      time: NOW,
    });
    const msgs = snsMessages("/sns");
    expect(msgs.map((m) => m.env.Type)).toEqual(["SubscriptionConfirmation", "Notification"]);
    const topicArn = `arn:aws:sns:us-east-1:287250355862:aws-mp-subscription-notification-${P_L}`;

    const [conf, note] = msgs;
    expect(conf?.req.headers).toMatchObject({
      "x-amz-sns-message-type": "SubscriptionConfirmation",
      "x-amz-sns-message-id": conf?.env.MessageId,
      "x-amz-sns-topic-arn": topicArn,
      "content-type": "text/plain; charset=UTF-8",
    });
    expect(Object.keys(conf?.env ?? {})).toEqual([
      "Type",
      "MessageId",
      "Token",
      "TopicArn",
      "Message",
      "SubscribeURL",
      "Timestamp",
      "SignatureVersion",
      "Signature",
      "SigningCertURL",
    ]);
    expect(conf?.env.SubscribeURL).toBe(
      `${host.baseUrl()}/_emulator/sns/confirm?Action=ConfirmSubscription&TopicArn=${encodeURIComponent(topicArn)}&token=${conf?.env.Token}`,
    );

    expect(note?.req.headers).toMatchObject({
      "x-amz-sns-message-type": "Notification",
      "x-amz-sns-message-id": note?.env.MessageId,
      "x-amz-sns-topic-arn": topicArn,
      "content-type": "text/plain; charset=UTF-8",
    });
    expect(note?.req.headers["x-amz-sns-subscription-arn"]).toMatch(
      new RegExp(`^${topicArn}:[0-9a-f-]{36}$`),
    );
    expect(Object.keys(note?.env ?? {})).toEqual([
      "Type",
      "MessageId",
      "TopicArn",
      "Message",
      "Timestamp",
      "SignatureVersion",
      "Signature",
      "SigningCertURL",
      "UnsubscribeURL",
    ]);
    expect(note?.env).toMatchObject({
      TopicArn: topicArn,
      Timestamp: "2026-07-15T10:30:00.000Z",
      SignatureVersion: "2",
      SigningCertURL: `${host.baseUrl()}/_emulator/sns/SimpleNotificationService-emulator.pem`,
    });
    expect(JSON.parse(note?.env.Message ?? "")).toEqual({
      action: "subscribe-success",
      "customer-identifier": C1,
      "product-code": P_L,
      "offer-identifier": "offer-abc",
      isFreeTrialTermPresent: "true",
    });
    expect(note?.env.Message).toBe(
      `{"action":"subscribe-success","customer-identifier":"${C1}","product-code":"${P_L}","offer-identifier":"offer-abc","isFreeTrialTermPresent":"true"}`,
    );
    const log = n.deliveries();
    expect(log.map((d) => [d.kind, d.type, d.status, d.subscriptionConfirmed])).toEqual([
      ["sns", "SubscriptionConfirmation", 200, false],
      ["sns", "Notification", 200, false],
    ]);
  });

  it("sns.topics: routes every legacy action to its topic; the confirmation is sent once per endpoint and topic", async () => {
    const n = make({ sns: [{ url: receiver.url("/sns") }] });
    for (const action of [
      "subscribe-success",
      "subscribe-fail",
      "unsubscribe-pending",
      "unsubscribe-success",
    ] as const) {
      await n.emit({ action, productCode: P_L, customerIdentifier: C1, offerId: "offer-x", time: NOW });
    }
    await n.emit({
      action: "entitlement-updated",
      productCode: P_L,
      customerIdentifier: C1,
      offerId: "offer-x",
      time: NOW,
    });
    const msgs = snsMessages("/sns");
    expect(msgs.map((m) => [m.env.Type, m.env.TopicArn?.split(":").pop()])).toEqual([
      ["SubscriptionConfirmation", `aws-mp-subscription-notification-${P_L}`],
      ["Notification", `aws-mp-subscription-notification-${P_L}`],
      ["Notification", `aws-mp-subscription-notification-${P_L}`],
      ["Notification", `aws-mp-subscription-notification-${P_L}`],
      ["Notification", `aws-mp-subscription-notification-${P_L}`],
      ["SubscriptionConfirmation", `aws-mp-entitlement-notification-${P_L}`],
      ["Notification", `aws-mp-entitlement-notification-${P_L}`],
    ]);
    const bodies = msgs
      .filter((m) => m.env.Type === "Notification")
      .map((m) => JSON.parse(m.env.Message ?? ""));
    expect(bodies.map((b) => b.action)).toEqual([
      "subscribe-success",
      "subscribe-fail",
      "unsubscribe-pending",
      "unsubscribe-success",
      "entitlement-updated",
    ]);
    // offer-identifier only accompanies subscribe-success / subscribe-fail.
    expect(bodies.map((b) => "offer-identifier" in b)).toEqual([true, true, false, false, false]);
    expect(bodies.every((b) => b.isFreeTrialTermPresent === "false")).toBe(true);
  });

  it("sns.topics: honours the per-endpoint topic filter", async () => {
    const n = make({
      sns: [
        { url: receiver.url("/sub"), topics: ["subscription"] },
        { url: receiver.url("/ent"), topics: ["entitlement"] },
      ],
    });
    await n.emit({ action: "subscribe-success", productCode: P_L, customerIdentifier: C1, time: NOW });
    await n.emit({ action: "entitlement-updated", productCode: P_L, customerIdentifier: C1, time: NOW });
    expect(snsMessages("/sub").map((m) => m.env.Type)).toEqual(["SubscriptionConfirmation", "Notification"]);
    expect(JSON.parse(snsMessages("/sub")[1]?.env.Message ?? "{}").action).toBe("subscribe-success");
    expect(snsMessages("/sub").some((m) => m.env.TopicArn?.includes("entitlement"))).toBe(false);
    expect(
      snsMessages("/ent").every((m) => m.env.TopicArn?.includes("aws-mp-entitlement-notification-")),
    ).toBe(true);
    expect(snsMessages("/ent")).toHaveLength(2);
  });

  it("sns.ca-buyer-message: a Concurrent Agreements buyer gets no account id or license in the SNS message, as in AWS", async () => {
    const n = make({ sns: [{ url: receiver.url("/sns") }] });
    await n.emit({
      action: "subscribe-success",
      productCode: P_CA,
      customerAWSAccountId: A1,
      licenseArn: L1,
      time: NOW,
    });
    const note = snsMessages("/sns").find((m) => m.env.Type === "Notification");
    expect(JSON.parse(note?.env.Message ?? "")).toEqual({
      action: "subscribe-success",
      "product-code": P_CA,
      isFreeTrialTermPresent: "false",
    });
    expect(note?.env.Message).not.toContain(A1);
    expect(note?.env.Message).not.toContain("license");
  });

  it.each(["1", "2"] as const)(
    "signature version %s verifies with the certificate served over HTTP; tampering or another key fails",
    async (version) => {
      const n = make({ sns: [{ url: receiver.url("/sns"), signatureVersion: version }] });
      await n.emit({ action: "unsubscribe-pending", productCode: P_L, customerIdentifier: C1, time: NOW });
      const msgs = snsMessages("/sns").map((m) => m.env);
      expect(msgs).toHaveLength(2);
      const note = msgs[1] as Record<string, string>;
      expect(note.SignatureVersion).toBe(version);
      const cert = await fetchCert(note.SigningCertURL as string);
      expect(cert.publicKey.asymmetricKeyType).toBe("rsa");
      expect(cert.subject).toContain("marketmeter");
      expect(cert.issuer).toBe(cert.subject);
      expect(cert.verify(cert.publicKey)).toBe(true);
      expect(n.certificatePem.trim()).toBe(cert.toString().trim());

      for (const env of msgs) expect(verifySns(env, cert)).toBe(true);

      const tamperedMessage = {
        ...note,
        Message: (note.Message as string).replace("unsubscribe-pending", "unsubscribe-success"),
      };
      expect(tamperedMessage.Message).not.toBe(note.Message);
      expect(verifySns(tamperedMessage, cert)).toBe(false);
      const tamperedTimestamp = { ...note, Timestamp: "2026-07-15T10:30:00.001Z" };
      expect(verifySns(tamperedTimestamp, cert)).toBe(false);
      const tamperedToken = { ...(msgs[0] as Record<string, string>), Token: "00" };
      expect(verifySns(tamperedToken, cert)).toBe(false);

      // Same canonical string, signed by a key that is not the certificate's.
      const other = generateKeyPairSync("rsa", { modulusLength: 2048 });
      const forged = {
        ...note,
        Signature: sign(
          version === "1" ? "sha1" : "sha256",
          Buffer.from(canonical(note)),
          other.privateKey,
        ).toString("base64"),
      };
      expect(verifySns(forged, cert)).toBe(false);
      // And the wrong digest for the declared version fails too.
      const wrongVersion = { ...note, SignatureVersion: version === "1" ? "2" : "1" };
      expect(verifySns(wrongVersion, cert)).toBe(false);
    },
  );

  it("signatures verify for arbitrary message text (property)", async () => {
    const n = make({ sns: [{ url: receiver.url("/sns") }] });
    await n.emit({ action: "subscribe-success", productCode: P_L, customerIdentifier: "seed", time: NOW });
    const cert = await fetchCert(`${host.baseUrl()}/_emulator/sns/SimpleNotificationService-emulator.pem`);
    await fc.assert(
      fc.asyncProperty(fc.string({ minLength: 1, maxLength: 40, unit: "binary" }), async (customer) => {
        const before = receiver.requests.length;
        await n.emit({
          action: "subscribe-success",
          productCode: P_L,
          customerIdentifier: customer,
          time: NOW,
        });
        const env = JSON.parse(receiver.requests[before]?.body ?? "{}") as Record<string, string>;
        expect(JSON.parse(env.Message ?? "{}")["customer-identifier"]).toBe(customer);
        expect(verifySns(env, cert)).toBe(true);
      }),
      { numRuns: 15 },
    );
  });

  it("snsStringToSign matches the canonical form, with Subject only when present (property)", () => {
    const text = fc.string({ maxLength: 30, unit: "binary" });
    fc.assert(
      fc.property(
        fc.constantFrom("Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation"),
        text,
        fc.option(text, { nil: undefined }),
        (type, message, subject) => {
          const env: Record<string, string> = {
            Type: type,
            MessageId: "m-1",
            TopicArn: "arn:aws:sns:us-east-1:287250355862:t",
            Message: message,
            Timestamp: "2026-07-15T10:30:00.000Z",
            SignatureVersion: "2",
            SigningCertURL: "http://127.0.0.1/c.pem",
          };
          if (type === "Notification") {
            if (subject !== undefined) env.Subject = subject;
          } else {
            env.Token = "tok";
            env.SubscribeURL = "http://127.0.0.1/confirm";
          }
          const got = snsStringToSign(env as unknown as SnsEnvelope);
          expect(got).toBe(canonical(env));
          expect(got.startsWith(`Message\n${message}\nMessageId\nm-1\n`)).toBe(true);
          expect(got.includes("Subject\n")).toBe(type === "Notification" && subject !== undefined);
        },
      ),
      { numRuns: 100 },
    );
    expect(() => snsStringToSign({ Type: "SubscriptionConfirmation", Message: "x" } as never)).toThrow(
      expect.objectContaining({ code: "INVALID_NOTIFICATION" }),
    );
  });

  it("confirmation flow: visiting SubscribeURL confirms; later notifications are logged as confirmed", async () => {
    const n = make({ sns: [{ url: receiver.url("/sns") }] });
    await n.emit({ action: "subscribe-success", productCode: P_L, customerIdentifier: C1, time: NOW });
    const conf = snsMessages("/sns")[0]?.env as Record<string, string>;
    expect(n.snsSubscriptions?.()[0]?.state).toBe("pending");

    const res = await fetch(conf.SubscribeURL as string);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/xml/);
    const xml = await res.text();
    expect(xml).toContain('<ConfirmSubscriptionResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">');
    const arn = /<SubscriptionArn>([^<]+)<\/SubscriptionArn>/.exec(xml)?.[1];
    expect(arn).toMatch(new RegExp(`^${conf.TopicArn}:[0-9a-f-]{36}$`));
    expect(n.snsSubscriptions?.()[0]).toMatchObject({ state: "confirmed", subscriptionArn: arn });

    await n.emit({ action: "unsubscribe-pending", productCode: P_L, customerIdentifier: C1, time: NOW });
    const log = n.deliveries();
    expect(log.map((d) => [d.type, d.subscriptionConfirmed])).toEqual([
      ["SubscriptionConfirmation", false],
      ["Notification", false],
      ["Notification", true],
    ]);
    // No second SubscriptionConfirmation once confirmed.
    expect(snsMessages("/sns").filter((m) => m.env.Type === "SubscriptionConfirmation")).toHaveLength(1);
    expect(receiver.at("/sns").at(-1)?.headers["x-amz-sns-subscription-arn"]).toBe(arn);

    const bad = await fetch(`${host.baseUrl()}/_emulator/sns/confirm?token=nope`);
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain("<Code>InvalidParameter</Code>");
  });

  it("requireConfirmation holds Notifications until the endpoint confirms, then delivers them in order", async () => {
    const n = make({ sns: [{ url: receiver.url("/sns"), requireConfirmation: true }] });
    await n.emit({ action: "subscribe-success", productCode: P_L, customerIdentifier: C1, time: NOW });
    await n.emit({ action: "unsubscribe-pending", productCode: P_L, customerIdentifier: C1, time: NOW });
    expect(snsMessages("/sns").map((m) => m.env.Type)).toEqual(["SubscriptionConfirmation"]);
    expect(n.snsSubscriptions?.()[0]?.held).toBe(2);

    const conf = snsMessages("/sns")[0]?.env as Record<string, string>;
    expect((await fetch(conf.SubscribeURL as string)).status).toBe(200);
    await n.idle?.();
    const after = snsMessages("/sns");
    expect(after.map((m) => m.env.Type)).toEqual([
      "SubscriptionConfirmation",
      "Notification",
      "Notification",
    ]);
    expect(after.slice(1).map((m) => JSON.parse(m.env.Message ?? "").action)).toEqual([
      "subscribe-success",
      "unsubscribe-pending",
    ]);
    expect(
      n
        .deliveries()
        .filter((d) => d.type === "Notification")
        .every((d) => d.subscriptionConfirmed),
    ).toBe(true);
  });

  it("UnsubscribeURL ends the subscription: a signed UnsubscribeConfirmation, then no more notifications", async () => {
    const n = make({ sns: [{ url: receiver.url("/sns") }] });
    await n.emit({ action: "subscribe-success", productCode: P_L, customerIdentifier: C1, time: NOW });
    const note = snsMessages("/sns")[1]?.env as Record<string, string>;
    const res = await fetch(note.UnsubscribeURL as string);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain("<UnsubscribeResponse");
    await n.idle?.();
    const unsub = snsMessages("/sns")[2];
    expect(unsub?.env.Type).toBe("UnsubscribeConfirmation");
    expect(unsub?.req.headers["x-amz-sns-message-type"]).toBe("UnsubscribeConfirmation");
    const cert = await fetchCert(note.SigningCertURL as string);
    expect(verifySns(unsub?.env as Record<string, string>, cert)).toBe(true);

    await n.emit({ action: "unsubscribe-pending", productCode: P_L, customerIdentifier: C1, time: NOW });
    expect(snsMessages("/sns")).toHaveLength(3);
  });

  it("toSqsBody gives the body a queue subscriber receives; it parses back and still verifies", async () => {
    const n = make({ sns: [{ url: receiver.url("/sns") }] });
    await n.emit({ action: "subscribe-success", productCode: P_L, customerIdentifier: C1, time: NOW });
    const env = snsMessages("/sns")[1]?.env as unknown as SnsEnvelope;
    const body = toSqsBody(env);
    expect(body.startsWith('{\n  "Type" : "Notification",\n  "MessageId" : ')).toBe(true);
    const parsed = JSON.parse(body) as Record<string, string>;
    expect(parsed).toEqual(env);
    expect(JSON.parse(parsed.Message ?? "").action).toBe("subscribe-success");
    expect(verifySns(parsed, await fetchCert(env.SigningCertURL))).toBe(true);
    expect(() => toSqsBody(null as never)).toThrow(expect.objectContaining({ code: "INVALID_NOTIFICATION" }));
  });

  it("serves the certificate only for GET/HEAD and leaves unknown paths to the host", async () => {
    make({ sns: [] });
    const head = await fetch(`${host.baseUrl()}/_emulator/sns/SimpleNotificationService-emulator.pem`, {
      method: "HEAD",
    });
    expect(head.status).toBe(200);
    expect((await fetch(`${host.baseUrl()}/_emulator/sns/other`)).status).toBe(404);
    expect(
      (
        await fetch(`${host.baseUrl()}/_emulator/sns/SimpleNotificationService-emulator.pem`, {
          method: "DELETE",
        })
      ).status,
    ).toBe(404);
  });
});

describe("delivery", () => {
  it("retries when the receiver answers 500 then 200", async () => {
    receiver.script.set("/e", [500]);
    const n = make({ eventBridge: [{ url: receiver.url("/e") }] });
    await n.emit({ ...caBase, action: "license-updated" });
    expect(receiver.at("/e")).toHaveLength(2);
    const [entry] = n.deliveries();
    expect(entry).toMatchObject({ status: 200, attempts: 2, delivered: true });
    expect(entry?.attemptLog?.map((a) => a.status)).toEqual([500, 200]);
    // The retried body is the same event.
    expect(receiver.at("/e")[0]?.body).toBe(receiver.at("/e")[1]?.body);
  });

  it("gives up after 3 attempts of 5xx, and does not retry a 4xx", async () => {
    receiver.script.set("/down", [503, 503, 503, 503]);
    receiver.script.set("/bad", [400]);
    const n = make({ eventBridge: [{ url: receiver.url("/down") }, { url: receiver.url("/bad") }] });
    await n.emit({ ...caBase, action: "license-updated" });
    expect(receiver.at("/down")).toHaveLength(3);
    expect(receiver.at("/bad")).toHaveLength(1);
    const byUrl = new Map(n.deliveries().map((d) => [new URL(d.url).pathname, d]));
    expect(byUrl.get("/down")).toMatchObject({ status: 503, attempts: 3, delivered: false });
    expect(byUrl.get("/bad")).toMatchObject({ status: 400, attempts: 1, delivered: false });
  });

  it("retries SNS deliveries too and re-sends a confirmation that never arrived", async () => {
    receiver.script.set("/sns", [500, 500, 500]);
    const n = make({ sns: [{ url: receiver.url("/sns") }] });
    await n.emit({ action: "subscribe-success", productCode: P_L, customerIdentifier: C1, time: NOW });
    expect(n.deliveries().map((d) => [d.type, d.status, d.attempts])).toEqual([
      ["SubscriptionConfirmation", 500, 3],
      ["Notification", 200, 1],
    ]);
    await n.emit({ action: "unsubscribe-pending", productCode: P_L, customerIdentifier: C1, time: NOW });
    expect(
      n
        .deliveries()
        .slice(2)
        .map((d) => d.type),
    ).toEqual(["SubscriptionConfirmation", "Notification"]);
  });

  it("records connection errors and per-attempt timeouts without throwing", async () => {
    const closedPort = receiver.port;
    await receiver.stop();
    const n = make({ eventBridge: [{ url: `http://127.0.0.1:${closedPort}/gone` }] });
    await n.emit({ ...caBase, action: "license-updated" });
    expect(n.deliveries()[0]).toMatchObject({ status: "error", attempts: 3, delivered: false });
    expect(n.deliveries()[0]?.error).toMatch(/ECONNREFUSED/);
    receiver = await new Receiver().start();

    receiver.hang = true;
    const slow = make(
      { eventBridge: [{ url: receiver.url("/slow") }] },
      { delivery: { attempts: 2, backoffMs: 0, timeoutMs: 50 } },
    );
    await slow.emit({ ...caBase, action: "license-updated" });
    expect(slow.deliveries()[0]).toMatchObject({
      status: "error",
      attempts: 2,
      error: "timed out after 50 ms",
    });
  });

  it("close() aborts in-flight deliveries; emit afterwards is refused", async () => {
    receiver.hang = true;
    const n = make({ eventBridge: [{ url: receiver.url("/hang") }] }, { delivery: { timeoutMs: 60_000 } });
    const pending = n.emit({ ...caBase, action: "license-updated" });
    while (receiver.at("/hang").length === 0) await new Promise((r) => setTimeout(r, 5));
    await n.close();
    await pending;
    expect(n.deliveries()[0]).toMatchObject({
      status: "error",
      attempts: 1,
      error: "aborted: notifier closed",
    });
    await expect(n.emit({ ...caBase, action: "license-updated" })).rejects.toMatchObject({ code: "CLOSED" });
    expect(() => n.setWebhooks({})).toThrow(expect.objectContaining({ code: "CLOSED" }));
  });

  it("refuses webhook URLs that leave the machine, with a clear error", () => {
    for (const url of [
      "https://example.com/hook",
      "http://10.0.0.1/hook",
      "http://169.254.169.254/latest",
      "http://[2001:db8::1]/x",
      "http://127.0.0.1.nip.io/x",
    ]) {
      let caught: unknown;
      try {
        make({ eventBridge: [{ url }] });
      } catch (err) {
        caught = err;
      }
      expect(isNotifierError(caught, "NON_LOOPBACK_URL"), url).toBe(true);
      expect((caught as Error).message).toContain("never outside this machine");
    }
    const n = make({});
    expect(() => n.setWebhooks({ sns: [{ url: "http://192.168.1.10/sns" }] })).toThrow(
      expect.objectContaining({ code: "NON_LOOPBACK_URL" }),
    );
    expect(() => n.setWebhooks({ sns: [{ url: "ftp://127.0.0.1/x" }] })).toThrow(
      expect.objectContaining({ code: "INVALID_CONFIG" }),
    );
    expect(() =>
      n.setWebhooks({ sns: [{ url: "http://127.0.0.1/x", signatureVersion: "3" as never }] }),
    ).toThrow(expect.objectContaining({ code: "INVALID_CONFIG" }));
    expect(() =>
      n.setWebhooks({ eventBridge: [{ url: "http://127.0.0.1/x", header: "bad header" }] }),
    ).toThrow(expect.objectContaining({ code: "INVALID_CONFIG" }));
    expect(() =>
      createNotifier({ webhooks: {}, sellerAccountId: "nope", baseUrl: host.baseUrl, now: () => NOW }),
    ).toThrow(expect.objectContaining({ code: "INVALID_CONFIG" }));
  });

  it("isLoopbackHost accepts only loopback forms", () => {
    for (const h of [
      "127.0.0.1",
      "127.1.2.3",
      "localhost",
      "[::1]",
      "::1",
      "[::ffff:7f00:1]",
      "::ffff:127.0.0.1",
    ]) {
      expect(isLoopbackHost(h), h).toBe(true);
    }
    for (const h of [
      "0.0.0.0",
      "128.0.0.1",
      "example.com",
      "[::]",
      "[::ffff:a00:1]",
      "localhost.example.com",
      "",
    ]) {
      expect(isLoopbackHost(h), h).toBe(false);
    }
  });

  it("setWebhooks switches targets; emit with no webhooks is a no-op", async () => {
    const n = make({});
    await n.emit({ ...caBase, action: "license-updated" });
    expect(n.deliveries()).toEqual([]);
    n.setWebhooks({ eventBridge: [{ url: receiver.url("/new") }] });
    await n.emit({ ...caBase, action: "license-updated" });
    expect(receiver.at("/new")).toHaveLength(1);
  });
});
