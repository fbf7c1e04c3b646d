/** Route decorators: `@Meter`, `@SkipMetering`, `@RequireSubscription` and `@Subscription()`. */
import { MarketplaceError } from "@marketmeter/core";
import * as http from "@marketmeter/core/http";
import {
  applyDecorators,
  type CallHandler,
  createParamDecorator,
  type ExecutionContext,
  Injectable,
  type NestInterceptor,
  SetMetadata,
  UseFilters,
  UseGuards,
  UseInterceptors,
} from "@nestjs/common";
import { Reflector } from "@nestjs/core";
import { type Observable, tap } from "rxjs";
import { REQ_RESULT } from "./metering.js";
import { METER_METADATA, type MeterQuantity, SUBSCRIPTION_METADATA } from "./options.js";
import { getSubscription, SubscriptionGuard, SubscriptionProblemFilter } from "./subscription.guard.js";

/** A route's metering override, or `@SkipMetering()`. */
type MeterSpec = http.MeterSpec<unknown[]> | typeof SKIP;
const SKIP = Object.freeze({ skip: true as const });

/**
 * The one mechanism behind `@Meter` and `@SkipMetering`: writes the route's spec onto the request's
 * metering state (read after the response), and keeps the handler's result only when the quantity
 * is a function of it. Undecorated routes never run it.
 */
@Injectable()
export class MeterInterceptor implements NestInterceptor {
  // Keyed by controller, then handler: an inherited method serves several controllers.
  private readonly cache = new Map<object, Map<object, MeterSpec | undefined>>();

  constructor(private readonly reflector: Reflector) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const req = context.switchToHttp().getRequest<Record<symbol, unknown>>();
    const spec = this.specOf(context);
    if (spec === undefined) return next.handle();
    if ("skip" in spec) {
      http.skipMeteringOf(req);
      return next.handle();
    }
    http.applyMeterSpec(req, spec);
    if (typeof spec.quantity !== "function") return next.handle();
    return next.handle().pipe(
      tap((value) => {
        req[REQ_RESULT] = value;
      }),
    );
  }

  private specOf(context: ExecutionContext): MeterSpec | undefined {
    const cls = context.getClass();
    const handler = context.getHandler();
    let byHandler = this.cache.get(cls);
    if (!byHandler) this.cache.set(cls, (byHandler = new Map()));
    if (byHandler.has(handler)) return byHandler.get(handler);
    // Method metadata wins over controller metadata.
    const spec = this.reflector.getAllAndOverride<MeterSpec | undefined>(METER_METADATA, [handler, cls]);
    byHandler.set(handler, spec);
    return spec;
  }
}

/**
 * Meters the route (or every route of the controller) under `dimension`, instead of one unit of the
 * default dimension. The quantity is a non-negative integer, or a function of the request, the response
 * and the handler's return value; it is read after the response is sent, and only responses that
 * `shouldMeter` accepts (by default: status below 400) are billed.
 *
 * @default quantity 1
 * @example
 * @Meter("gb_stored", (req, res, result) => (result as Upload).sizeGb)
 * @Post("uploads")
 * upload(@Body() body: UploadDto) { … }
 */
export function Meter<Req = unknown, Res = unknown>(
  dimension: string,
  quantity: MeterQuantity<Req, Res> = 1,
): ClassDecorator & MethodDecorator {
  const spec = Object.freeze(
    http.parseMeterSpec<unknown[]>(dimension, quantity as http.QuantitySpec<unknown[]>),
  );
  return applyDecorators(SetMetadata(METER_METADATA, spec), UseInterceptors(MeterInterceptor));
}

/**
 * Nothing is recorded for this route (or controller), e.g. health checks.
 *
 * @example
 * @SkipMetering()
 * @Get("health")
 * health() { return "ok" }
 */
export function SkipMetering(): ClassDecorator & MethodDecorator {
  return applyDecorators(SetMetadata(METER_METADATA, SKIP), UseInterceptors(MeterInterceptor));
}

/** Options of `@RequireSubscription()`. */
export interface RequireSubscriptionOptions {
  /** Overrides the module's `failOpen` for this route or controller. @default the module's `failOpen` */
  failOpen?: boolean;
}

/**
 * Refuses buyers without a current AWS Marketplace subscription:
 * 403 (not registered, pending) or 402 (cancelled, no entitlement), as problem JSON; 503 when the check
 * itself fails (unless `failOpen`). Uses the module's `getCustomer`. The decision is then
 * `getSubscription(req)`, or a handler parameter decorated with `@Subscription()`.
 *
 * @example
 * @RequireSubscription()
 * @Controller("reports")
 * export class ReportsController { … }
 */
export function RequireSubscription(
  options: RequireSubscriptionOptions = {},
): ClassDecorator & MethodDecorator {
  if (
    typeof options !== "object" ||
    options === null ||
    (options.failOpen !== undefined && typeof options.failOpen !== "boolean")
  )
    throw new MarketplaceError(
      "INVALID_CONFIG",
      "@RequireSubscription(options?): options must be { failOpen?: boolean }",
    );
  return applyDecorators(
    SetMetadata(SUBSCRIPTION_METADATA, Object.freeze({ ...options })),
    UseGuards(SubscriptionGuard),
    UseFilters(SubscriptionProblemFilter),
  );
}

/**
 * The access decision of `@RequireSubscription()` as a handler parameter (`AccessAllowed`, or
 * `undefined` when the route is not guarded or the guard failed open).
 *
 * @example
 * @RequireSubscription()
 * @Get("me")
 * me(@Subscription() subscription: AccessAllowed) { return { tenantId: subscription.tenantId } }
 */
export const Subscription: () => ParameterDecorator = createParamDecorator(
  (_data: unknown, context: ExecutionContext) => getSubscription(context.switchToHttp().getRequest<object>()),
);
