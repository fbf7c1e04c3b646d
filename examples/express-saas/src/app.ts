// The Express app: pages, the metered API, and the AWS Marketplace routes. `startApp` is what
// `src/main.ts` (the CLI) and the smoke test start.
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import type { Emulator } from "@marketmeter/emulator";
import {
  buyerUsageHandler,
  eventBridgeHandler,
  isMarketplaceError,
  type Marketplace,
  meter,
  meterUsage,
  registrationHandler,
  requireSubscription,
  skipMetering,
  snsHandler,
  usagePageHandler,
} from "@marketmeter/express";
import express, { type ErrorRequestHandler, type NextFunction, type Request, type Response } from "express";
import { usagePageAccess } from "./admin.js";
import { callApi, closeHour, subscribeNewBuyer } from "./demo.js";
import { BadRequest, parseDays, parseSymbol, quote, report } from "./market-data.js";
import {
  type AwsSettings,
  type Dimension,
  type EmulatorSettings,
  isAddressInUse,
  lineLogger,
  PortInUseError,
  ROUTES,
  setupMarketplace,
} from "./marketplace.js";
import {
  apiKeyPage,
  autoSubmitPage,
  demoPage,
  homePage,
  html,
  KEY_PAGE_GONE,
  messagePage,
  PAGE_HEADERS,
  signupPage,
} from "./pages.js";
import { completeSignup, findRegistration } from "./signup.js";
import type { SharedStoreSettings } from "./stores.js";
import { openTenants, type Tenant } from "./tenants.js";
import { API_NOT_FOUND, createViews, type View } from "./web.js";

export interface StartAppOptions {
  /** @default 3000 (0 picks a free port) */
  port?: number;
  /** @default "127.0.0.1" */
  host?: string;
  /** Where the SQLite files live. @default ".marketmeter" */
  dataDir?: string;
  /** Opens the seller's usage page to `Authorization: Bearer <adminToken>` (else local-only in the demo). */
  adminToken?: string;
  /** Real AWS. Without it the app starts the emulator and a demo page. */
  aws?: AwsSettings;
  emulator?: EmulatorSettings;
  /** A store every instance shares (PostgreSQL or Redis). @default SQLite files in `dataDir` */
  store?: SharedStoreSettings;
  /** Receives warnings and errors. @default console.error */
  log?: (line: string) => void;
}

export interface RunningApp {
  /** e.g. http://127.0.0.1:3000 */
  url: string;
  marketplace: Marketplace<Dimension>;
  /** Only in emulator mode. */
  emulator: Emulator | undefined;
  /** Stops accepting requests, sends what is due, closes the stores (and the emulator). */
  close(): Promise<void>;
}

type Locals = { tenant?: Tenant };
const tenantOf = (res: Response) => (res.locals as Locals).tenant?.id;

export async function startApp(options: StartAppOptions = {}): Promise<RunningApp> {
  const log = options.log ?? ((line: string) => console.error(line));
  const logger = lineLogger(log);
  const setup = await setupMarketplace({
    dataDir: options.dataDir ?? ".marketmeter",
    aws: options.aws,
    emulator: options.emulator,
    store: options.store,
    logger,
    // Who pays for a request, declared once: meterUsage and requireSubscription both use it.
    getCustomer: (_req, res) => tenantOf(res),
  });
  const { marketplace, emulator } = setup;
  const tenants = openTenants(join(setup.dataDir, "tenants.db"));
  const demo = emulator !== undefined;
  let appUrl = "";

  const app = express();
  app.disable("x-powered-by");
  const send = (res: Response, status: number, body: string) =>
    res.status(status).set(PAGE_HEADERS).send(body);
  const form = express.urlencoded({ extended: false, limit: "8kb" });
  // Every POST answers 303 to a page (post-redirect-get), so reloading that page repeats nothing.
  const views = createViews();
  const redirect = (req: Request, res: Response, location: string, view: View) =>
    void res
      .status(303)
      .set({ location, "set-cookie": views.put(req.get("cookie"), view) })
      .end();

  // Every finished request of a tenant with status < 400 is one `api_calls`, unless a route says otherwise.
  app.use(meterUsage(marketplace, { dimension: "api_calls" }));

  app.get("/health", skipMetering(), (_req, res) => {
    res.json({ ok: true });
  });
  app.get("/", (_req, res) => {
    send(res, 200, homePage({ demo, productCode: setup.productCode }));
  });

  // AWS Marketplace: the fulfillment URL (token → 303 to sign-up) and the lifecycle notifications.
  app.post(ROUTES.register, registrationHandler(marketplace, { signUpUrl: ROUTES.signUp }));
  app.post(ROUTES.eventBridge, eventBridgeHandler(marketplace));
  app.post(ROUTES.sns, snsHandler(marketplace));

  app.get(ROUTES.signUp, async (req, res) => {
    const pending = await findRegistration(marketplace, req.query.registration, setup.now());
    if (!pending.ok) return void send(res, pending.status, messagePage("Sign-up", pending.message, demo));
    send(res, 200, signupPage(pending.registration));
  });
  app.post(ROUTES.signUp, form, async (req, res) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const result = await completeSignup(marketplace, tenants, body, setup.now());
    if (result.ok) {
      const { tenant, apiKey, returning } = result;
      return redirect(req, res, ROUTES.signUpDone, { signup: { tenant, apiKey, returning }, apiKey });
    }
    const pending = await findRegistration(marketplace, body.registration, setup.now());
    if (result.status === 400 && pending.ok)
      return void send(res, 400, signupPage(pending.registration, result.message, body));
    send(res, result.status, messagePage("Sign-up", result.message, demo));
  });

  app.get(ROUTES.signUpDone, (req, res) => {
    const signup = views.get(req.get("cookie"))?.signup;
    if (!signup) return void send(res, 404, messagePage("Your API key", KEY_PAGE_GONE, demo));
    send(res, 200, apiKeyPage({ ...signup, appUrl, demo }));
  });

  // The API: API key → tenant → subscription check → metered handler.
  const authenticate = (req: Request, res: Response, next: NextFunction) => {
    // Container, AMI, AgentCore: the buyer is the deployment, so there is no API key to ask for.
    if (setup.mode !== "saas") return next();
    const auth = req.get("authorization");
    const key = auth?.startsWith("Bearer ") ? auth.slice(7).trim() : req.get("x-api-key");
    const tenant = key ? tenants.byApiKey(key) : undefined;
    if (!tenant) {
      res
        .status(401)
        .set("www-authenticate", "Bearer")
        .json({ error: "unauthorized", message: "Send your API key as Authorization: Bearer <key>" });
      return;
    }
    (res.locals as Locals).tenant = tenant;
    next();
  };
  // Usage: the seller's page (every buyer), and each buyer's own (even after cancelling).
  const usageAccess = usagePageAccess<[Request]>({ adminToken: options.adminToken, demo }, (req) =>
    req.get("authorization"),
  );
  if (usageAccess) app.get(ROUTES.usagePage, usagePageHandler(marketplace, usageAccess));
  app.get(ROUTES.buyerUsage, authenticate, buyerUsageHandler(marketplace));

  const api = express.Router();
  api.use(authenticate, requireSubscription(marketplace));
  api.get("/quotes", (req, res) => {
    res.json(quote(parseSymbol(req.query.symbol), new Date(setup.now())));
  });
  // Billed by what the response contains: one `report_rows` per row (and no `api_calls`).
  api.get(
    "/reports",
    meter("report_rows", (_req, res) => (res.locals.rows as number | undefined) ?? 0),
    (req, res) => {
      const rows = report(parseSymbol(req.query.symbol), parseDays(req.query.days), new Date(setup.now()));
      res.locals.rows = rows.length;
      res.json({ rows });
    },
  );
  // Unknown API routes answer JSON like the rest of the API, not an HTML page.
  api.use((req, res) => {
    res.status(API_NOT_FOUND.status).type(API_NOT_FOUND.contentType);
    res.send(API_NOT_FOUND.body(req.method, req.baseUrl + req.path));
  });
  app.use("/api", api);

  if (emulator) {
    const billingUrl = `${emulator.endpoint}/_emulator/`;
    const showDemo = async (req: Request, res: Response) => {
      const { notice, apiKey } = views.get(req.get("cookie")) ?? {};
      const grains = await marketplace.report({ from: setup.now() - 48 * 3_600_000 });
      const view = { appUrl, billingUrl, now: new Date(setup.now()), grains, notice, apiKey };
      const buyers = marketplace.buyers.directory.list();
      send(res, 200, demoPage({ ...view, buyers, tenantName: (id) => tenants.get(id)?.name }));
    };
    app.get("/demo", (req, res) => showDemo(req, res));
    app.post("/demo/subscribe", async (req, res) => {
      const { token } = await subscribeNewBuyer(emulator, setup.productCode);
      redirect(req, res, "/demo/subscribe", { token });
    });
    app.get("/demo/subscribe", (req, res) => {
      const token = views.get(req.get("cookie"))?.token;
      if (!token) return void res.redirect(303, "/demo");
      send(res, 200, autoSubmitPage(ROUTES.register, token));
    });
    app.post("/demo/call", form, async (req, res) => {
      const apiKey = String(req.body?.apiKey ?? "").trim();
      const path =
        {
          quotes: "/api/quotes?symbol=ACME",
          reports: "/api/reports?symbol=ACME&days=7",
          bad: "/api/reports?days=0",
        }[String(req.body?.endpoint) as "quotes" | "reports" | "bad"] ?? "/api/quotes";
      const answer = await callApi(appUrl, apiKey, path);
      const notice = html`<p><code>GET ${path}</code> answered <strong>${answer.status}</strong></p><pre>${answer.body}</pre>`;
      redirect(req, res, "/demo", { notice, apiKey });
    });
    app.post("/demo/close-hour", async (req, res) => {
      const hour = await closeHour(emulator, marketplace);
      const notice = html`<p>Closed and sent the hour starting ${hour.toISOString()}. <a href="${billingUrl}">See the bill</a>.</p>`;
      redirect(req, res, "/demo", { notice });
    });
  }

  app.use(((err, req, res, _next) => {
    // Refusals of requireSubscription (402/403/503): their problem JSON, the place to log or restyle them.
    if (isMarketplaceError(err, "ACCESS_DENIED") && "problem" in err)
      return void res
        .status(Number(err.details?.httpStatus))
        .set({
          ...(err as { headers?: object }).headers,
          "content-type": "application/problem+json",
          "cache-control": "no-store",
        })
        .end(JSON.stringify(err.problem));
    if (err instanceof BadRequest)
      return void res.status(400).json({ error: "bad_request", message: err.message });
    const status = Number(err?.status ?? err?.statusCode) || 500;
    if (status >= 500) log(`error ${req.method} ${req.path}: ${err?.stack ?? err}`);
    if (req.path.startsWith("/api/"))
      return void res.status(status).json({ error: status >= 500 ? "internal" : "bad_request" });
    send(
      res,
      status,
      messagePage("Something went wrong", status >= 500 ? "Please try again." : String(err?.message), demo),
    );
  }) as ErrorRequestHandler);

  const server = createServer(app);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(options.port ?? 3000, options.host ?? "127.0.0.1", () => {
        server.off("error", reject);
        resolve();
      });
    });
  } catch (err) {
    await marketplace.close();
    await emulator?.close();
    tenants.close();
    throw isAddressInUse(err) ? new PortInUseError("app", options.port ?? 3000, { cause: err }) : err;
  }
  const { address, port } = server.address() as AddressInfo;
  const host =
    address === "0.0.0.0" || address === "::"
      ? "127.0.0.1"
      : address.includes(":")
        ? `[${address}]`
        : address;
  appUrl = `http://${host}:${port}`;
  setup.connect(appUrl);

  let closing: Promise<void> | undefined;
  const close = async () => {
    // In-flight requests finish (and are metered) before the marketplace checkpoints and sends.
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
      setTimeout(() => server.closeAllConnections(), 5000).unref();
    });
    await marketplace.close();
    await emulator?.close();
    tenants.close();
  };
  return {
    url: appUrl,
    marketplace,
    emulator,
    close: () => (closing ??= close()),
  };
}
