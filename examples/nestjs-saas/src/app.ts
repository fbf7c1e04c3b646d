// The NestJS app: pages, the metered API, and the AWS Marketplace routes. `startApp` is what
// `src/main.ts` (the CLI) and the smoke test start.
import "reflect-metadata";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
// The emulator is loaded with import() (see marketplace.ts), so its types are the ES module ones.
import type { Emulator } from "@marketmeter/emulator" with { "resolution-mode": "import" };
import {
  type Marketplace,
  MarketplaceModule,
  MarketplaceService,
  Meter,
  RequireSubscription,
  SkipMetering,
} from "@marketmeter/nestjs";
import {
  type ArgumentsHost,
  BadRequestException,
  Body,
  type CanActivate,
  Catch,
  Controller,
  type ExceptionFilter,
  type ExecutionContext,
  Get,
  Inject,
  Injectable,
  type LoggerService,
  Module,
  NotFoundException,
  Post,
  Query,
  Req,
  Res,
  UnauthorizedException,
  UseGuards,
} from "@nestjs/common";
import { NestFactory } from "@nestjs/core";
import type { Request, Response } from "express";
import { usagePageAccess } from "./admin.js";
import { callApi, closeHour, subscribeNewBuyer } from "./demo.js";
import { BadRequest, parseDays, parseSymbol, quote, report } from "./market-data.js";
import {
  type AwsSettings,
  type Dimension,
  type EmulatorSettings,
  isAddressInUse,
  lineLogger,
  type MarketplaceSetup,
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
import { openTenants, type Tenant, type Tenants } from "./tenants.js";
import { API_NOT_FOUND, createViews, type View, type Views } from "./web.js";

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

/** What the controllers share (provided under the `APP` token). */
interface AppContext {
  setup: MarketplaceSetup;
  tenants: Tenants;
  demo: boolean;
  appUrl: string;
  /** What each POST leaves for the page it redirects to (post-redirect-get). */
  views: Views;
}
const APP = "APP_CONTEXT";

type ApiRequest = Request & { tenant?: Tenant };

const send = (res: Response, body: string, status = 200) =>
  void res.status(status).set(PAGE_HEADERS).send(body);

/** Every POST answers 303 to a page, so reloading that page repeats nothing. */
const redirect = (views: Views, req: Request, res: Response, location: string, view: View) =>
  void res
    .status(303)
    .set({ location, "set-cookie": views.put(req.get("cookie"), view) })
    .end();

/** Unknown API routes answer problem JSON like the rest of the API; other paths keep Nest's answer. */
@Catch(NotFoundException)
class ApiNotFoundFilter implements ExceptionFilter {
  catch(exception: NotFoundException, host: ArgumentsHost) {
    const req = host.switchToHttp().getRequest<Request>();
    const res = host.switchToHttp().getResponse<Response>();
    if (req.path.startsWith("/api/"))
      return void res
        .status(API_NOT_FOUND.status)
        .type(API_NOT_FOUND.contentType)
        .send(API_NOT_FOUND.body(req.method, req.path));
    res.status(404).json(exception.getResponse());
  }
}

/** Bad query parameters are a 400 (and a 4xx is never billed). */
function parsed<T>(parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    throw err instanceof BadRequest ? new BadRequestException(err.message) : err;
  }
}

/** The tenant whose API key the request sends, if any. */
function tenantByKey(tenants: AppContext["tenants"], req: Request): Tenant | undefined {
  const auth = req.get("authorization");
  const key = auth?.startsWith("Bearer ") ? auth.slice(7).trim() : req.get("x-api-key");
  return key ? tenants.byApiKey(key) : undefined;
}

/** API key → tenant, kept on the request for `getCustomer`. */
@Injectable()
class ApiKeyGuard implements CanActivate {
  constructor(@Inject(APP) private readonly app: AppContext) {}

  canActivate(context: ExecutionContext): boolean {
    // Container, AMI, AgentCore: the buyer is the deployment, so there is no API key to ask for.
    if (this.app.setup.mode !== "saas") return true;
    const req = context.switchToHttp().getRequest<ApiRequest>();
    const tenant = tenantByKey(this.app.tenants, req);
    if (!tenant) throw new UnauthorizedException("Send your API key as Authorization: Bearer <key>");
    req.tenant = tenant;
    return true;
  }
}

@Controller()
class PagesController {
  constructor(@Inject(APP) private readonly app: AppContext) {}

  @SkipMetering()
  @Get("health")
  health() {
    return { ok: true };
  }

  @Get()
  home(@Res() res: Response) {
    send(res, homePage({ demo: this.app.demo, productCode: this.app.setup.productCode }));
  }

  @Get(ROUTES.signUp)
  async signUpForm(@Query("registration") id: unknown, @Res() res: Response) {
    const { setup, demo } = this.app;
    const pending = await findRegistration(setup.marketplace, id, setup.now());
    if (!pending.ok) return send(res, messagePage("Sign-up", pending.message, demo), pending.status);
    send(res, signupPage(pending.registration));
  }

  @Post(ROUTES.signUp)
  async signUp(@Body() body: Record<string, unknown>, @Req() req: Request, @Res() res: Response) {
    const { setup, tenants, demo, views } = this.app;
    const result = await completeSignup(setup.marketplace, tenants, body ?? {}, setup.now());
    if (result.ok) {
      const { tenant, apiKey, returning } = result;
      return redirect(views, req, res, ROUTES.signUpDone, { signup: { tenant, apiKey, returning }, apiKey });
    }
    const pending = await findRegistration(setup.marketplace, body?.registration, setup.now());
    if (result.status === 400 && pending.ok)
      return send(res, signupPage(pending.registration, result.message, body), 400);
    send(res, messagePage("Sign-up", result.message, demo), result.status);
  }

  @Get(ROUTES.signUpDone)
  signUpDone(@Req() req: Request, @Res() res: Response) {
    const { views, demo, appUrl } = this.app;
    const signup = views.get(req.get("cookie"))?.signup;
    if (!signup) return send(res, messagePage("Your API key", KEY_PAGE_GONE, demo), 404);
    send(res, apiKeyPage({ ...signup, appUrl, demo }));
  }
}

// Decorators apply bottom-up: the API key guard (listed last) runs first, then the subscription check.
@Controller("api")
@RequireSubscription()
@UseGuards(ApiKeyGuard)
class ApiController {
  constructor(@Inject(APP) private readonly app: AppContext) {}

  // Not decorated: one `api_calls`, the module's default dimension.
  @Get("quotes")
  quotes(@Query("symbol") symbol: unknown) {
    return quote(
      parsed(() => parseSymbol(symbol)),
      new Date(this.app.setup.now()),
    );
  }

  // Billed by what the handler returned: one `report_rows` per row (and no `api_calls`).
  @Meter(
    "report_rows",
    (_req: unknown, _res: unknown, result: unknown) => (result as { rows: unknown[] }).rows.length,
  )
  @Get("reports")
  reports(@Query("symbol") symbol: unknown, @Query("days") days: unknown) {
    const rows = parsed(() => report(parseSymbol(symbol), parseDays(days), new Date(this.app.setup.now())));
    return { rows };
  }
}

@Controller("demo")
class DemoController {
  constructor(
    @Inject(APP) private readonly app: AppContext,
    private readonly marketplace: MarketplaceService,
  ) {}

  private get emulator(): Emulator {
    // The demo routes exist only in emulator mode; without an emulator there is nothing to drive.
    const emulator = this.app.setup.emulator;
    if (emulator === undefined) throw new NotFoundException("The demo runs only in emulator mode");
    return emulator;
  }

  private async show(req: Request, res: Response) {
    const { setup, tenants, appUrl, views } = this.app;
    const { notice, apiKey } = views.get(req.get("cookie")) ?? {};
    const grains = await this.marketplace.report({ from: setup.now() - 48 * 3_600_000 });
    const billingUrl = `${this.emulator.endpoint}/_emulator/`;
    const view = { appUrl, billingUrl, now: new Date(setup.now()), grains, notice, apiKey };
    const buyers = this.marketplace.buyers.directory.list();
    send(res, demoPage({ ...view, buyers, tenantName: (id) => tenants.get(id)?.name }));
  }

  @Get()
  page(@Req() req: Request, @Res() res: Response) {
    return this.show(req, res);
  }

  @Post("subscribe")
  async subscribe(@Req() req: Request, @Res() res: Response) {
    const { token } = await subscribeNewBuyer(this.emulator, this.app.setup.productCode);
    redirect(this.app.views, req, res, "/demo/subscribe", { token });
  }

  @Get("subscribe")
  subscribed(@Req() req: Request, @Res() res: Response) {
    const token = this.app.views.get(req.get("cookie"))?.token;
    if (!token) return void res.redirect(303, "/demo");
    send(res, autoSubmitPage(ROUTES.register, token));
  }

  @Post("call")
  async call(@Body() body: Record<string, unknown>, @Req() req: Request, @Res() res: Response) {
    const apiKey = String(body?.apiKey ?? "").trim();
    const paths: Record<string, string> = {
      quotes: "/api/quotes?symbol=ACME",
      reports: "/api/reports?symbol=ACME&days=7",
      bad: "/api/reports?days=0",
    };
    const path = paths[String(body?.endpoint)] ?? "/api/quotes";
    const answer = await callApi(this.app.appUrl, apiKey, path);
    const notice = html`<p><code>GET ${path}</code> answered <strong>${answer.status}</strong></p><pre>${answer.body}</pre>`;
    redirect(this.app.views, req, res, "/demo", { notice, apiKey });
  }

  @Post("close-hour")
  async closeHour(@Req() req: Request, @Res() res: Response) {
    const hour = await closeHour(this.emulator, this.marketplace);
    const billingUrl = `${this.emulator.endpoint}/_emulator/`;
    const notice = html`<p>Closed and sent the hour starting ${hour.toISOString()}. <a href="${billingUrl}">See the bill</a>.</p>`;
    redirect(this.app.views, req, res, "/demo", { notice });
  }
}

export async function startApp(options: StartAppOptions = {}): Promise<RunningApp> {
  const log = options.log ?? ((line: string) => console.error(line));
  const logger = lineLogger(log);
  const setup = await setupMarketplace({
    dataDir: options.dataDir ?? ".marketmeter",
    aws: options.aws,
    emulator: options.emulator,
    store: options.store,
    logger,
  });
  const { marketplace, emulator } = setup;
  const tenants = openTenants(join(setup.dataDir, "tenants.db"));
  const context: AppContext = {
    setup,
    tenants,
    demo: emulator !== undefined,
    appUrl: "",
    views: createViews(),
  };

  const usageAccess = usagePageAccess<[Request]>(
    { adminToken: options.adminToken, demo: emulator !== undefined },
    (req) => req.get("authorization"),
  );

  @Module({
    imports: [
      MarketplaceModule.forRoot({
        marketplace,
        // Every response below 400 of a tenant is one `api_calls`, unless a route says otherwise.
        dimension: "api_calls",
        // The module's buyer-usage route runs no app guard, so the API key is read here too.
        getCustomer: (req: ApiRequest) => (req.tenant ?? tenantByKey(tenants, req))?.id,
        registration: { signUpUrl: ROUTES.signUp },
        ...(usageAccess ? { usagePage: usageAccess } : {}),
        routes: {
          registration: ROUTES.register,
          eventBridge: ROUTES.eventBridge,
          sns: ROUTES.sns,
          // Usage: the seller's page (every buyer), and each buyer's own (even after cancelling).
          ...(usageAccess ? { usagePage: ROUTES.usagePage } : {}),
          buyerUsage: ROUTES.buyerUsage,
        },
        // app.close() flushes and closes the marketplace (the default).
        closeOnShutdown: true,
      }),
    ],
    controllers: emulator
      ? [PagesController, ApiController, DemoController]
      : [PagesController, ApiController],
    providers: [{ provide: APP, useValue: context }, ApiKeyGuard],
  })
  class AppModule {}

  const nestLogger: LoggerService = {
    log() {},
    warn: (message) => log(`warn ${String(message)}`),
    error: (message, trace) => log(`error ${String(message)}${trace ? `\n${String(trace)}` : ""}`),
  };
  // rawBody: marketmeter's routes check the SNS signature and read the registration form on exact bytes.
  const app = await NestFactory.create(AppModule, { rawBody: true, logger: nestLogger });
  app.useGlobalFilters(new ApiNotFoundFilter());
  try {
    await app.listen(options.port ?? 3000, options.host ?? "127.0.0.1");
  } catch (err) {
    await app.close();
    await emulator?.close();
    tenants.close();
    throw isAddressInUse(err) ? new PortInUseError("app", options.port ?? 3000, { cause: err }) : err;
  }
  const { address, port } = app.getHttpServer().address() as AddressInfo;
  const host =
    address === "0.0.0.0" || address === "::"
      ? "127.0.0.1"
      : address.includes(":")
        ? `[${address}]`
        : address;
  context.appUrl = `http://${host}:${port}`;
  setup.connect(context.appUrl);

  let closing: Promise<void> | undefined;
  const close = async () => {
    // Nest stops the server, then the marketplace module flushes and closes the marketplace.
    await app.close();
    await emulator?.close();
    tenants.close();
  };
  return {
    url: context.appUrl,
    marketplace,
    emulator,
    close: () => (closing ??= close()),
  };
}
