/** `MarketplaceModule`: configuration, the after-response metering hook, routes and shutdown. */
import {
  type ConfigurableModuleAsyncOptions,
  ConfigurableModuleBuilder,
  type DynamicModule,
  Inject,
  type MiddlewareConsumer,
  Module,
  type NestModule,
  type OnApplicationShutdown,
  RequestMethod,
} from "@nestjs/common";
import { HttpAdapterHost } from "@nestjs/core";
import { MarketplaceService } from "./marketplace.service.js";
import { Metering } from "./metering.js";
import {
  invalid,
  MARKETPLACE_OPTIONS,
  type MarketplaceModuleDefinition,
  type MarketplaceModuleOptions,
  RESOLVED,
  type Resolved,
  resolveOptions,
  validateRoutes,
} from "./options.js";
import { createRoutesController } from "./routes.controller.js";

const { ConfigurableModuleClass } = new ConfigurableModuleBuilder<MarketplaceModuleOptions>({
  optionsInjectionToken: MARKETPLACE_OPTIONS,
})
  .setClassMethodName("forRoot")
  .setExtras<MarketplaceModuleDefinition>({ isGlobal: false, routes: {} }, (definition, extras) => {
    const routes = validateRoutes(extras.routes);
    return {
      ...definition,
      global: extras.isGlobal === true,
      controllers: Object.values(routes).some((p) => p !== undefined) ? [createRoutesController(routes)] : [],
      providers: [
        ...(definition.providers ?? []),
        {
          provide: RESOLVED,
          useFactory: (options: unknown) => resolveOptions(options, routes),
          inject: [MARKETPLACE_OPTIONS],
        },
        { provide: MarketplaceService, useFactory: (o: Resolved) => o.marketplace, inject: [RESOLVED] },
        { provide: Metering, useFactory: (o: Resolved) => new Metering(o), inject: [RESOLVED] },
      ],
      exports: [RESOLVED, MarketplaceService],
    };
  })
  .build();

/**
 * Options of `forRootAsync`: a factory (with its `inject` and `imports`), `useClass` or `useExisting`
 * that gives the options, next to what is fixed when the module is defined.
 *
 * @example
 * MarketplaceModule.forRootAsync({
 *   imports: [ConfigModule],
 *   inject: [ConfigService],
 *   useFactory: (config: ConfigService) => ({ marketplace: { … }, getCustomer: (req: Request) => … }),
 *   routes: { registration: "/marketplace/register" },
 *   isGlobal: true,
 * })
 */
export type MarketplaceModuleAsyncOptions = ConfigurableModuleAsyncOptions<
  MarketplaceModuleOptions,
  "create"
> &
  MarketplaceModuleDefinition;

/**
 * Meters every response (one unit of the default dimension when the status is below 400), honours
 * `@Meter` / `@SkipMetering`, provides `MarketplaceService`, mounts the registration and lifecycle routes
 * you ask for, and flushes and closes the marketplace on application shutdown.
 *
 * @example
 * @Module({
 *   imports: [
 *     MarketplaceModule.forRoot({
 *       marketplace: { products: [{ productCode: "pca1234567890abcdefghijkl" }], dimensions: ["api_calls"] },
 *       getCustomer: (req: Request & { user?: User }) => req.user && { tenantId: req.user.tenantId },
 *     }),
 *   ],
 * })
 * export class AppModule {}
 */
@Module({})
export class MarketplaceModule extends ConfigurableModuleClass implements NestModule, OnApplicationShutdown {
  constructor(
    @Inject(RESOLVED) private readonly options: Resolved,
    private readonly metering: Metering,
    private readonly host: HttpAdapterHost,
  ) {
    super();
  }

  /** Configures the module with options known now. */
  static forRoot<Req = unknown, Res = unknown>(
    options: MarketplaceModuleOptions<Req, Res> & MarketplaceModuleDefinition,
  ): DynamicModule {
    if (typeof options !== "object" || options === null) invalid("needs an options object");
    // biome-ignore lint/complexity/noThisInStatic: super keeps `this` = MarketplaceModule, the module the definition names
    return super.forRoot(options as MarketplaceModuleOptions);
  }

  /** Configures the module with options from a factory, a class or an existing provider (e.g. `ConfigService`). */
  static forRootAsync(options: MarketplaceModuleAsyncOptions): DynamicModule {
    if (
      typeof options !== "object" ||
      options === null ||
      !(options.useFactory ?? options.useClass ?? options.useExisting)
    )
      invalid("forRootAsync needs { useFactory, inject? }, { useClass } or { useExisting }");
    // biome-ignore lint/complexity/noThisInStatic: as in forRoot
    return super.forRootAsync(options);
  }

  /**
   * Hooks metering after each response, the cheapest way each platform offers: on Express one
   * middleware that adds a shared `finish` listener (no per-request closure); on Fastify a native
   * `onResponse` hook, which also hands over the Fastify request and reply that handlers see.
   */
  configure(consumer: MiddlewareConsumer): void {
    const metering = this.metering;
    const adapter = this.host.httpAdapter;
    if (adapter?.getType() === "fastify") {
      adapter
        .getInstance()
        .addHook("onResponse", (request: object, reply: { statusCode: number }, done: () => void) => {
          metering.finished(request, reply);
          done();
        });
      return;
    }
    function onFinish(this: { req: object; statusCode: number }) {
      metering.finished(this.req, this);
    }
    consumer
      .apply((_req: unknown, res: { on(e: string, fn: () => void): void }, next: () => void) => {
        res.on("finish", onFinish);
        next();
      })
      .forRoutes({ path: "*", method: RequestMethod.ALL });
  }

  /** Flushes and closes the marketplace once the HTTP server stopped taking requests. */
  async onApplicationShutdown(): Promise<void> {
    if (this.options.closeOnShutdown) await this.options.marketplace.close();
  }
}
