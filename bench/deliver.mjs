// Records per second delivered to the emulator with the reporter paced at 10 calls per second.
process.env.AWS_EC2_METADATA_DISABLED = "true";
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";

import { createMarketplace } from "../packages/core/dist/index.js";
import { DEMO, demoConfig, startEmulator } from "../packages/emulator/dist/index.js";

const LICENSES = 1000;
const emu = await startEmulator({ port: 0, config: demoConfig({ frozen: true }) });
let now = Date.parse(DEMO.now);
emu.clock.set(now, { freeze: true });
const arn = (i) =>
  `arn:aws:license-manager::294406891311:license:l-${(i + 0x1000).toString(16).padStart(32, "0")}`;
for (let i = 0; i < LICENSES; i++)
  emu.addLicense({
    licenseArn: arn(i),
    customerAWSAccountId: DEMO.A2,
    productCode: DEMO.P_CA,
    activatedAt: "2026-07-01T00:00:00Z",
  });
const m = createMarketplace({
  products: [{ productCode: DEMO.P_CA }],
  dimensions: ["api_calls", "gb_stored"],
  aws: {
    region: "us-east-1",
    endpoint: emu.endpoint,
    credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" },
  },
  clock: () => now,
  autoStart: false,
  callsPerSecond: 10,
});
for (let i = 0; i < LICENSES; i++)
  for (const d of ["api_calls", "gb_stored"])
    m.record({
      identity: { customerAWSAccountId: DEMO.A2, licenseArn: arn(i) },
      dimension: d,
      quantity: i + 1,
    });
await m.checkpoint();
now += 3_600_000;
emu.clock.set(now, { freeze: true });
const t0 = performance.now();
await m.flush();
const seconds = (performance.now() - t0) / 1000;
const billed = emu.ledger().length;
const throttled = emu.rejected().filter((r) => r.errorType === "ThrottlingException").length;
const s = m.stats();
await m.close();
await emu.close();
console.log(
  JSON.stringify({ records: billed, seconds, perSecond: billed / seconds, calls: s.calls, throttled }),
);
