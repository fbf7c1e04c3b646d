import { verify, X509Certificate } from "node:crypto";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEMO, demoConfig, type Emulator, startEmulator } from "../src/index.js";

interface Hit {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

function canonical(e: Record<string, string>): string {
  const keys =
    e.Type === "Notification"
      ? ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
      : ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"];
  return keys
    .filter((k) => e[k] !== undefined)
    .map((k) => `${k}\n${e[k]}\n`)
    .join("");
}

describe("lifecycle notifications from a running emulator", () => {
  let emu: Emulator;
  let receiver: Server;
  let base: string;
  const hits: Hit[] = [];

  beforeAll(async () => {
    receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        hits.push({
          path: req.url ?? "",
          headers: req.headers,
          body: Buffer.concat(chunks).toString("utf8"),
        });
        res.writeHead(200);
        res.end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
    base = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
    emu = await startEmulator({ config: demoConfig({ frozen: true }) });
    emu.setWebhooks({ eventBridge: [{ url: `${base}/events`, secret: "k" }], sns: [{ url: `${base}/sns` }] });
  });

  afterAll(async () => {
    await emu?.close();
    receiver?.closeAllConnections();
    await new Promise<void>((r) => receiver.close(() => r()));
  });

  it("activating a license sends EventBridge events with the seller account and the license", async () => {
    await emu.subscribe({ licenseArn: DEMO.L3 });
    await emu.notifier()?.idle?.();
    const events = hits.filter((h) => h.path === "/events").map((h) => JSON.parse(h.body));
    expect(events.length).toBeGreaterThan(0);
    expect(
      hits
        .filter((h) => h.path === "/events")
        .every((h) => h.headers["x-marketmeter-webhook-secret"] === "k"),
    ).toBe(true);
    const licenseUpdated = events.find((e) => e["detail-type"] === "License Updated - Manufacturer");
    expect(licenseUpdated).toMatchObject({
      source: "aws.agreement-marketplace",
      account: DEMO.sellerAccountId,
      region: "us-east-1",
      detail: { license: { arn: DEMO.L3 }, acceptor: { accountId: DEMO.A2 }, product: { code: DEMO.P_CA } },
    });
  });

  it("a legacy subscription sends signed SNS messages whose certificate the emulator serves", async () => {
    await emu.subscribe({ customerIdentifier: DEMO.C2, productCode: DEMO.P_L });
    await emu.notifier()?.idle?.();
    const sns = hits
      .filter((h) => h.path === "/sns")
      .map((h) => JSON.parse(h.body) as Record<string, string>);
    expect(sns.map((e) => e.Type)).toEqual(["SubscriptionConfirmation", "Notification"]);
    const note = sns[1] as Record<string, string>;
    expect(JSON.parse(note.Message as string)).toMatchObject({
      action: "subscribe-success",
      "customer-identifier": DEMO.C2,
      "product-code": DEMO.P_L,
    });
    expect(note.SigningCertURL).toBe(`${emu.endpoint}/_emulator/sns/SimpleNotificationService-emulator.pem`);
    const cert = new X509Certificate(await (await fetch(note.SigningCertURL as string)).text());
    for (const e of sns) {
      const ok = verify(
        "sha256",
        Buffer.from(canonical(e)),
        cert.publicKey,
        Buffer.from(e.Signature as string, "base64"),
      );
      expect(ok).toBe(true);
    }
    const confirm = await fetch((sns[0] as Record<string, string>).SubscribeURL as string);
    expect(confirm.status).toBe(200);
    expect(await confirm.text()).toContain("<ConfirmSubscriptionResponse");
    expect(
      emu
        .notifier()
        ?.snsSubscriptions?.()
        .find((s) => s.topicArn === note.TopicArn)?.state,
    ).toBe("confirmed");
  });
});
