process.env.AWS_EC2_METADATA_DISABLED = "true";
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";
import { DEMO, demoConfig, startEmulator } from "@marketmeter/emulator";
import { expect, it } from "vitest";
import { MarketplaceModule } from "../src/index.js";
import { customerFromHeaders, startApp } from "./app.js";

it.each(["express", "fastify"] as const)("smoke %s", async (platform) => {
  const emu = await startEmulator({ port: 0, config: demoConfig({ frozen: true }) });
  let now = Date.parse(DEMO.now);
  emu.clock.set(now, { freeze: true });
  const s = await startApp(platform, [
    MarketplaceModule.forRoot({
      marketplace: {
        products: [{ productCode: DEMO.P_CA }],
        dimensions: ["api_calls", "gb_stored"],
        aws: { region: "us-east-1", endpoint: emu.endpoint, credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" } },
        clock: () => now,
        autoStart: false,
      },
      getCustomer: customerFromHeaders,
    }),
  ]);
  const h = { "x-account": DEMO.A1, "x-license": DEMO.L1 };
  for (const p of ["/hello", "/hello", "/bad", "/five", "/health", "/bulk/a", "/bulk/b", "/bulk/c"]) {
    const r = await fetch(s.base + p, { headers: h });
    console.log(p, r.status, await r.text());
  }
  const r = await fetch(s.base + "/upload?size=7", { method: "POST", headers: h });
  console.log("upload", r.status);
  await s.close();
  console.log(emu.ledger().map((x) => [x.dimension, x.quantity]));
  await emu.close();
});
