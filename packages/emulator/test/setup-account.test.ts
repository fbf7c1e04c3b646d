// "Set up your account" (setup-account.* in BEHAVIOURS.md), and webhook configuration that can never silence notifications.
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type Emulator, fulfillmentFormBody } from "../src/index.js";
import { DEMO, startTestEmulator } from "./helpers.js";

let emu: Emulator;
let app: Server;
let appUrl: string;
const received: Array<{ method?: string; type?: string; body: string; path?: string }> = [];

async function readAll(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

beforeEach(async () => {
  emu = await startTestEmulator();
  received.length = 0;
  // The seller's fulfillment URL (and an EventBridge receiver): records what arrives, redirects like an app.
  app = createServer((req, res) => {
    void readAll(req).then((body) => {
      received.push({ method: req.method, type: req.headers["content-type"], body, path: req.url });
      if (req.url === "/register") res.writeHead(303, { location: "/signup?registration=r-1" }).end();
      else res.writeHead(200).end("ok");
    });
  });
  await new Promise<void>((r) => app.listen(0, "127.0.0.1", r));
  appUrl = `http://127.0.0.1:${(app.address() as AddressInfo).port}`;
});

afterEach(async () => {
  await emu.close();
  await new Promise<void>((r) => app.close(() => r()));
});

describe("Set up your account", () => {
  it("setup-account.form-post: posts the urlencoded form with a token that resolves, and reports the redirect", async () => {
    const out = await emu.setUpAccount({ licenseArn: DEMO.L1, fulfillmentUrl: `${appUrl}/register` });
    expect(out).toMatchObject({ status: 303, location: "/signup?registration=r-1" });
    expect(received).toHaveLength(1);
    expect(received[0]).toMatchObject({
      method: "POST",
      type: "application/x-www-form-urlencoded",
      body: fulfillmentFormBody(out.token),
    });
    expect(new URLSearchParams(received[0]?.body).get("x-amzn-marketplace-token")).toBe(out.token);
  });

  it("setup-account.free-trial: free-trial offers add x-amzn-marketplace-offer-type=free-trial (control API too)", async () => {
    const res = await fetch(`${emu.endpoint}/_emulator/buyers/setup`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ licenseArn: DEMO.L1, fulfillmentUrl: `${appUrl}/register`, freeTrial: true }),
    });
    expect(res.status).toBe(200);
    const out = (await res.json()) as { status: number; token: string };
    expect(out.status).toBe(303);
    const form = new URLSearchParams(received[0]?.body);
    expect(form.get("x-amzn-marketplace-offer-type")).toBe("free-trial");
    expect(form.get("x-amzn-marketplace-token")).toBe(out.token);
  });

  it("setup-account.token-encoding: tokens with + / = survive the form encoding byte for byte", () => {
    const token = "a+b/c=d e";
    expect(new URLSearchParams(fulfillmentFormBody(token)).get("x-amzn-marketplace-token")).toBe(token);
  });

  it("setup-account.loopback-only: refuses a fulfillment URL off this machine, sending nothing", async () => {
    await expect(
      emu.setUpAccount({ licenseArn: DEMO.L1, fulfillmentUrl: "https://seller.example.com/register" }),
    ).rejects.toThrow(/loopback/);
    expect(received).toHaveLength(0);
  });
});

describe("webhook configuration", () => {
  it("an off-machine webhook is refused with 400 and the earlier webhooks keep delivering", async () => {
    emu.setWebhooks({ eventBridge: [{ url: `${appUrl}/events` }] });
    const bad = await fetch(`${emu.endpoint}/_emulator/webhooks`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ eventBridge: [{ url: "https://example.com/x" }] }),
    });
    expect(bad.status).toBe(400);
    await emu.subscribe({ productCode: DEMO.P_CA, customerAWSAccountId: DEMO.A2 });
    const events = received.filter((r) => r.path === "/events");
    expect(events.length).toBeGreaterThan(0);
    expect(JSON.parse(events[0]?.body ?? "{}")).toMatchObject({ source: "aws.agreement-marketplace" });
  });

  it("the billing page refreshes itself when asked (?refresh=5)", async () => {
    const html = await (await fetch(`${emu.endpoint}/_emulator/?refresh=5`)).text();
    expect(html).toMatch(/http-equiv="refresh" content="5"/);
    const plain = await (await fetch(`${emu.endpoint}/_emulator/`)).text();
    expect(plain).not.toMatch(/http-equiv="refresh"/);
  });
});
