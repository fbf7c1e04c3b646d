// The two senders the reporter is given: the AWS one makes a real BatchMeterUsage call (here to the
// emulator over HTTP), the dry-run one answers every record as accepted without any network call.
process.env.AWS_EC2_METADATA_DISABLED = "true";

import { DEMO, demoConfig, type Emulator, startEmulator } from "@marketmeter/emulator";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAwsClients } from "../aws/index.js";
import { awsSender, dryRunSender } from "./sender.js";

const credentials = { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" };
const hour = new Date(Date.parse(DEMO.now) - 3_600_000);
hour.setUTCMinutes(0, 0, 0);
const record = {
  CustomerIdentifier: DEMO.C1,
  Dimension: "api_calls",
  Quantity: 3,
  Timestamp: hour,
};
const input = {
  ProductCode: DEMO.P_L,
  UsageRecords: [record],
};

describe("usage senders", () => {
  let emu: Emulator;
  beforeAll(async () => {
    emu = await startEmulator({ port: 0, config: demoConfig({ frozen: true }), seed: 7 });
    emu.clock.set(Date.parse(DEMO.now), { freeze: true });
  });
  afterAll(() => emu.close());

  it("the AWS sender calls BatchMeterUsage and returns AWS's answer", async () => {
    const clients = createAwsClients({ region: "us-east-1", endpoint: emu.endpoint, credentials });
    try {
      const sender = awsSender(clients.metering);
      expect(sender.dryRun).toBe(false);
      const out = await sender.send(input);
      expect(out.Results?.map((r) => [r.Status, typeof r.MeteringRecordId])).toEqual([["Success", "string"]]);
      expect(emu.ledger().map((r) => r.quantity)).toEqual([3]);
    } finally {
      clients.destroy();
    }
  });

  it("the dry-run sender accepts every record and reaches no one", async () => {
    const calls = emu.calls().length;
    const sender = dryRunSender();
    expect(sender.dryRun).toBe(true);
    const out = await sender.send({
      ...input,
      UsageRecords: [record, { ...record, Dimension: "gb_stored" }],
    });
    expect(out.Results?.map((r) => [r.Status, r.UsageRecord?.Dimension, r.MeteringRecordId])).toEqual([
      ["Success", "api_calls", undefined],
      ["Success", "gb_stored", undefined],
    ]);
    expect(emu.calls()).toHaveLength(calls);
  });
});
