/** `MarketplaceModule`: configuration, the after-response metering hook, routes and shutdown. */
import {
  type DynamicModule,
  Inject,
  type MiddlewareConsumer,
  Module,
  type ModuleMetadata,
  type NestModule,
  type OnApplicationShutdown,
  type Provider,
  RequestMethod,
} from "@nestjs/common";
import { HttpAdapterHost } from "@nestjs/core";
import { MARKETPLACE, MARKETPLACE_OPTIONS } from "./constants.js";
import { MarketplaceService } from "./marketplace.service.js";
import { Metering } from "./metering.js";
import {
  type MarketplaceModuleOptions,
  type MarketplaceRoutes,
  type ResolvedModuleOptions,
  resolveModuleOptions,
  validateRoutes,
} from "./options.js";
import { createRoutesController } from "./routes.controller.js";

/** What is fixed when the module is defined (not per factory call). */
export interface MarketplaceModuleDefinition {
  /** Mount the registration and lifecycle routes at these paths. @default none mounted */
  routes?: MarketplaceRoutes;
  /** Register the module globally, so `MarketplaceService` is injectable in every module. @default false */
  isGlobal?: boolean;
}

/**
 * Options of `forRootAsync`: a factory (with its `inject` and `imports`) that returns the options.
 *
 * @example
 * MarketplaceModule.forRootAsync({
 *   imports: [ConfigModule],
 *   inject: [ConfigService],
 *   useFactory: (config: ConfigService) => ({ marketplace: { … }, getCustomer: (req) => req.user?.identity }),
 *   routes: { registration: "/marketplace/register" },
 *   isGlobal: true,
 * })
 */
export interface MarketplaceModuleAsyncOptions
  extends MarketplaceModuleDefinition,
    Pick<ModuleMetadata, "imports"> {
  useFactory: (...args: any[]) => MarketplaceModuleOptions | Promise<MarketplaceModuleOptions>;
  /** Providers passed to `useFactory`. @default [] */
  inject?: any[];
}

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
 *       getCustomer: (req) => req.user && { tenantId: req.user.tenantId },
 *     }),
 *   ],
 * })
 * export class AppModule {}
 */
@Module({})
export class MarketplaceModule implements NestModule, OnApplicationShutdown {
  constructor(
    @Inject(MARKETPLACE_OPTIONS) private readonly options: ResolvedModuleOptions,
    private readonly metering: Metering,
    private readonly host: HttpAdapterHost,
  ) {}

  /** Configures the module with options known now. */
  static forRoot(options: MarketplaceModuleOptions & MarketplaceModuleDefinition): DynamicModule {
    if (typeof options !== "object" || options === null) resolveModuleOptions(options);
    const { routes, isGlobal, ...rest } = options;
    const valid = validateRoutes(routes);
    return MarketplaceModule.define(valid, isGlobal, [], {
      provide: MARKETPLACE_OPTIONS,
      useFactory: () => resolveModuleOptions(rest, valid),
    });
  }

  /** Configures the module with options from a factory (for example from `ConfigService`). */
  static forRootAsync(options: MarketplaceModuleAsyncOptions): DynamicModule {
    if (typeof options !== "object" || options === null || typeof options.useFactory !== "function")
      resolveModuleOptions(undefined);
    const valid = validateRoutes(options.routes);
    return MarketplaceModule.define(valid, options.isGlobal, options.imports ?? [], {
      provide: MARKETPLACE_OPTIONS,
      useFactory: async (...args: unknown[]) =>
        resolveModuleOptions(await options.useFactory(...args), valid),
      inject: options.inject ?? [],
    });
  }

  private static define(
    routes: MarketplaceRoutes,
    isGlobal: boolean | undefined,
    imports: NonNullable<ModuleMetadata["imports"]>,
    optionsProvider: Provider,
  ): DynamicModule {
    const mounted = Object.values(routes).some((p) => p !== undefined);
    return {
      module: MarketplaceModule,
      global: isGlobal === true,
      imports,
      controllers: mounted ? [createRoutesController(routes)] : [],
      providers: [
        optionsProvider,
        {
          provide: MARKETPLACE,
          useFactory: (o: ResolvedModuleOptions) => o.marketplace,
          inject: [MARKETPLACE_OPTIONS],
        },
        {
          provide: Metering,
          useFactory: (o: ResolvedModuleOptions) => new Metering(o),
          inject: [MARKETPLACE_OPTIONS],
        },
        MarketplaceService,
      ],
      exports: [MARKETPLACE_OPTIONS, MARKETPLACE, MarketplaceService],
    };
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
      adapter.getInstance().addHook("onResponse", (request: unknown, reply: unknown, done: () => void) => {
        metering.finished(request, reply);
        done();
      });
      return;
    }
    function onFinish(this: { req: unknown }) {
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
