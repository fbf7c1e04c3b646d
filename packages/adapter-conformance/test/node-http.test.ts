// The conformance suite against a plain node:http app written directly on core's `http` layer: proves the
// shared layer holds all the behaviour, so each framework adapter stays a thin translation.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import * as http from "@marketmeter/core/http";
import {
  ADMIN_TOKEN,
  type ConformanceApp,
  type ConformanceHooks,
  describeAdapterConformance,
} from "../src/index.js";

type Args = [req: IncomingMessage, res: ServerResponse];

async function startNodeApp(hooks: ConformanceHooks): Promise<ConformanceApp> {
  const { marketplace } = hooks;
  const header = (req: IncomingMessage) => req.headers["x-customer"] as string | undefined;
  const getCustomer = (req: IncomingMessage) => hooks.customer(header(req));
  const meterOptions = { getCustomer, dimension: "api_calls", onError: hooks.onMeterError };
  const outer = http.createMeter<Args>(marketplace, meterOptions);
  const inner = http.createMeter<Args>(marketplace, meterOptions);
  const registration = http.resolveRegistrationOptions(marketplace, { signUpUrl: "/signup?from=aws" });
  const eventBridge = http.resolveWebhookOptions(marketplace, "eventBridge");
  const sns = http.resolveWebhookOptions(marketplace, "sns");
  const guard = http.createGuard<Args>(marketplace, { getCustomer });
  const openGuard = http.createGuard<Args>(marketplace, { getCustomer, failOpen: true });
  const usagePage = http.createUsagePage<Args>(marketplace, {
    authorize: (req) => req.headers["x-admin"] === ADMIN_TOKEN,
  });
  const usageLocal = http.createUsagePage<Args>(marketplace, { localOnly: true });
  const buyerUsage = http.createBuyerUsage<Args>(marketplace, { getCustomer });
  const write = (res: ServerResponse, r: http.HttpResult) => res.writeHead(r.status, r.headers).end(r.body);
  const text = (res: ServerResponse, status: number, body: string) =>
    res.writeHead(status, { "content-type": "text/plain" }).end(body);
  const claim = (meter: http.Meter<Args>, req: IncomingMessage, res: ServerResponse) => {
    const state = meter.begin(req);
    if (state) res.on("finish", () => void meter.finish(state, res.statusCode, [req, res]));
  };

  const route = async (req: IncomingMessage, res: ServerResponse, url: URL) => {
    const path = url.pathname;
    const request = (body: http.ParsedBody) => ({
      method: req.method,
      headers: req.headers,
      url: req.url,
      body,
    });
    if (req.method === "GET" && path === "/hello") return text(res, 200, "hello");
    if (req.method === "GET" && path.startsWith("/status/")) {
      const code = path.slice(8);
      return text(res, Number(code), `status ${code}`);
    }
    if (req.method === "GET" && path === "/throw") throw new Error("handler failed");
    if (req.method === "POST" && path === "/upload") {
      http.applyMeterSpec(
        req,
        http.parseMeterSpec<Args>("gb_stored", (r) => Number(r.headers["x-units"])),
      );
      return text(res, 201, "stored");
    }
    if (req.method === "GET" && path === "/rows") {
      http.applyMeterSpec(
        req,
        http.parseMeterSpec<Args>("api_calls", (_r, s) => Number(s.getHeader("x-rows"))),
      );
      const n = Number(url.searchParams.get("n"));
      res.setHeader("x-rows", String(n));
      res.writeHead(200, { "content-type": "application/json" });
      return res.end(JSON.stringify(Array.from({ length: n }, (_, i) => ({ i }))));
    }
    if (req.method === "GET" && path === "/free") {
      http.skipMeteringOf(req);
      return text(res, 200, "free");
    }
    if (req.method === "GET" && path === "/twice") {
      claim(inner, req, res);
      return text(res, 200, "twice");
    }
    if (req.method === "GET" && path === "/manual") {
      http.skipMeteringOf(req);
      marketplace.record({
        identity: (await getCustomer(req)) as never,
        dimension: "gb_stored",
        quantity: 7,
      });
      return text(res, 200, "manual");
    }
    if (path === "/marketplace/register") {
      const result = await http
        .readNodeBody(req, registration.maxBodyBytes)
        .then((body) => http.handleRegistration(marketplace, request(body), registration))
        .catch((err: unknown) => http.registrationError(err, req.headers.accept, registration));
      return write(res, result);
    }
    for (const [p, kind, o] of [
      ["/marketplace/events", "eventBridge", eventBridge],
      ["/marketplace/sns", "sns", sns],
    ] as const)
      if (req.method === "POST" && path === p) {
        const result = await http
          .readNodeBody(req, o.maxBodyBytes)
          .then((body) => http.handleWebhook(marketplace, kind, request(body), o))
          .catch((err: unknown) => http.webhookError(err, kind, o));
        return write(res, result);
      }
    if (req.method === "GET" && (path === "/paid" || path === "/paid-open")) {
      const result = await (path === "/paid" ? guard : openGuard)([req, res], path);
      if (!result.allowed) return write(res, http.problemResponse(result.problem, result.headers));
      res.writeHead(200, { "content-type": "application/json" });
      return res.end(JSON.stringify({ tenantId: result.decision?.tenantId }));
    }
    for (const [p, handle] of [
      ["/usage", usagePage],
      ["/usage-local", usageLocal],
      ["/my-usage", buyerUsage],
    ] as const)
      if (path === p) {
        http.skipMeteringOf(req);
        const result = await handle({
          method: req.method ?? "GET",
          url: req.url ?? "/",
          headers: req.headers,
          remoteAddress: req.socket.remoteAddress,
          args: [req, res],
        });
        return write(res, result);
      }
    text(res, 404, "not found");
  };

  const server = createServer((req, res) => {
    claim(outer, req, res);
    route(req, res, new URL(req.url ?? "/", "http://app.local")).catch(() => {
      if (!res.headersSent) text(res, 500, "internal error");
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

describeAdapterConformance({ name: "node:http on core's http layer", start: startNodeApp });
