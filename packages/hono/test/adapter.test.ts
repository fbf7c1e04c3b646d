process.env.AWS_EC2_METADATA_DISABLED = "true";
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";

import { Hono } from "hono";
import { createMiddleware } from "hono/factory";
import { afterEach, describe, expect, it } from "vitest";
import {
  createMarketplace,
  type MarketplaceEnv,
  meterUsage,
  registrationHandler,
  skipMetering,
} from "../src/index.js";

const P = "pca1234567890abcdefghijkl";
const ID = Object.freeze({ productCode: P, customerAWSAccountId: "123456789012" });
const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const m of open.splice(0)) await m.close();
});
function make() {
  const m = createMarketplace({
    products: [{ productCode: P }],
    dimensions: ["api_calls"],
    aws: {
      region: "us-east-1",
      endpoint: "http://127.0.0.1:9",
      credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" },
      maxAttempts: 1,
    },
    dryRun: true,
    autoStart: false,
  });
  open.push(m);
  return m;
}

describe("@marketmeter/hono on serverless runtimes", () => {
  it("hands late recordings to executionCtx.waitUntil and still records them", async () => {
    const m = make();
    const app = new Hono<MarketplaceEnv>();
    app.use(meterUsage(m, { getCustomer: async () => ID, dimension: "api_calls" }));
    app.get("/", (c) => c.text("ok"));
    const waited: Promise<unknown>[] = [];
    const executionCtx = {
      waitUntil: (p: Promise<unknown>) => void waited.push(p),
      passThroughOnException() {},
      props: {},
    };
    const res = await app.fetch(new Request("http://x/"), {}, executionCtx);
    expect(await res.text()).toBe("ok");
    expect(waited).toHaveLength(1);
    await Promise.all(waited);
    expect(m.stats().records).toBe(1);
  });

  it("records synchronously without waitUntil when getCustomer is synchronous; works with app.request()", async () => {
    const m = make();
    const app = new Hono<MarketplaceEnv>();
    app.use(meterUsage(m, { getCustomer: () => ID, dimension: "api_calls" }));
    app.get("/", (c) => c.text(c.var.marketplace === m ? "same" : "other"));
    app.get("/free", skipMetering(), (c) => c.text("free"));
    expect(await (await app.request("/")).text()).toBe("same");
    await app.request("/free");
    expect(m.stats().records).toBe(1);
  });

  it("the registration route reads a body an earlier middleware already parsed", async () => {
    const m = make();
    const app = new Hono<MarketplaceEnv>();
    const parsed = createMiddleware<MarketplaceEnv>(async (c, next) => {
      await c.req.parseBody();
      await next();
    });
    app.post("/register", parsed, registrationHandler(m, { signUpUrl: "/signup" }));
    const res = await app.request("/register", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
      body: "x-amzn-marketplace-token=dG9rZW4%3D",
    });
    // The token was read and sent to AWS (unreachable here), rather than refused as a missing token.
    expect(res.status).toBeGreaterThanOrEqual(500);
    expect(await res.json()).toMatchObject({ code: expect.stringMatching(/^AWS_/) });
  });
});
