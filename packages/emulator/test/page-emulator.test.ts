process.env.AWS_EC2_METADATA_DISABLED = "true";
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";

import { existsSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BatchMeterUsageCommand, MarketplaceMeteringClient } from "@aws-sdk/client-marketplace-metering";
import { ConfiguredRetryStrategy } from "@smithy/util-retry";
import { type Browser, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEMO, demoConfig, type Emulator, startEmulator } from "../src/index.js";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const available = existsSync(CHROMIUM);
if (!available && process.env.CI) {
  throw new Error(
    `Chromium not found at ${CHROMIUM}; install the Debian package "chromium" or set CHROMIUM_PATH`,
  );
}

const H09 = new Date("2026-07-15T09:00:00Z");
const H10 = new Date("2026-07-15T10:00:00Z");

describe.skipIf(!available)("billing page of a running emulator, in headless Chromium", () => {
  let emu: Emulator;
  let browser: Browser;

  beforeAll(async () => {
    emu = await startEmulator({ config: demoConfig({ frozen: true }) });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
  });

  afterAll(async () => {
    await browser?.close();
    await emu?.close();
  });

  it("shows what BatchMeterUsage billed, including a DuplicateRecord, at <endpoint>/_emulator/", async () => {
    const client = new MarketplaceMeteringClient({
      region: "us-east-1",
      endpoint: emu.endpoint,
      credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" },
      retryStrategy: new ConfiguredRetryStrategy(1, 0),
    });
    const ca = (ts: Date, dim: string, qty: number, license: string = DEMO.L1) => ({
      Timestamp: ts,
      CustomerAWSAccountId: DEMO.A1,
      LicenseArn: license,
      Dimension: dim,
      Quantity: qty,
    });
    const first = await client.send(
      new BatchMeterUsageCommand({
        UsageRecords: [
          ca(H09, "api_calls", 120),
          ca(H09, "gb_stored", 30),
          ca(H10, "api_calls", 80),
          ca(H10, "api_calls", 15, DEMO.L2),
        ],
      }),
    );
    expect(first.Results?.map((r) => r.Status)).toEqual(["Success", "Success", "Success", "Success"]);
    // Second writer for the same grain: first write wins, the 150 is not billed.
    const dup = await client.send(new BatchMeterUsageCommand({ UsageRecords: [ca(H09, "api_calls", 150)] }));
    expect(dup.Results?.[0]?.Status).toBe("DuplicateRecord");
    client.destroy();

    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const requests: string[] = [];
    page.on("request", (r) => requests.push(r.url()));
    await page.route("**/*", (route) =>
      new URL(route.request().url()).hostname === "127.0.0.1"
        ? route.continue()
        : route.abort("blockedbyclient"),
    );
    const res = await page.goto(`${emu.endpoint}/_emulator/`);
    expect(res?.status()).toBe(200);

    const rows = page.getByTestId("usage-row");
    expect(await rows.count()).toBe(4);
    expect(await rows.first().isVisible()).toBe(true);
    expect(await rows.first().getAttribute("data-hour")).toBe("2026-07-15T10:00:00.000Z");
    // api_calls and gb_stored are separate figures (215 and 30), never added up into 245.
    const figure = (d: string) =>
      page.locator(`[data-testid="summary-dimension-quantity"][data-dimension="${d}"]`).textContent();
    expect(await figure("api_calls")).toBe("215");
    expect(await figure("gb_stored")).toBe("30");
    expect(await page.getByTestId("chart").count()).toBe(2);

    const bars = page.getByTestId("chart-bar");
    expect(await bars.count()).toBe(3); // 09:00 api_calls + gb_stored, 10:00 api_calls
    for (let i = 0; i < 3; i++) {
      expect(await bars.nth(i).isVisible()).toBe(true);
      expect((await bars.nth(i).boundingBox())?.height ?? 0).toBeGreaterThan(1);
    }
    const dupRow = page.getByTestId("duplicate-row");
    expect(await dupRow.count()).toBe(1);
    expect(await dupRow.getAttribute("data-billed")).toBe("120");
    expect(await dupRow.getAttribute("data-attempted")).toBe("150");

    expect(requests.filter((u) => !u.startsWith(`${emu.endpoint}/`))).toEqual([]);
    const dir = await mkdtemp(join(tmpdir(), "marketmeter-emu-page-"));
    const file = join(dir, "emulator-billing.png");
    await page.screenshot({ path: file, fullPage: true });
    console.info(`emulator billing page screenshot: ${file}`);
    await page.close();
  });
});
