/** Route decorators: `@Meter`, `@SkipMetering` and `@RequireSubscription`. */
import {
  type CallHandler,
  type CanActivate,
  type ExecutionContext,
  Injectable,
  type NestInterceptor,
  SetMetadata,
  UseGuards,
  UseFilters,
  UseInterceptors,
  applyDecorators,
} from "@nestjs/common";
import { Reflector } from "@nestjs/core";
import { MarketplaceError } from "@marketmeter/core";
import * as http from "@marketmeter/core/http";
import { type Observable, tap } from "rxjs";
import { METER_METADATA, REQ_RESULT, SUBSCRIPTION_METADATA } from "./constants.js";
import type { MeterQuantity } from "./options.js";

/** A route's metering override; `skip` is `@SkipMetering()`. */
type MeterSpec = http.MeterSpec<unknown[]> | typeof SKIP;
const SKIP = Object.freeze({ skip: true as const });

/** Writes the route's spec onto the request's metering state, read after the response. */
function applySpec(req: object, spec: MeterSpec): void {
  if ("skip" in spec) http.skipMeteringOf(req);
  else http.applyMeterSpec(req, spec);
}
import { SubscriptionProblemFilter } from "./problem.js";
import { SubscriptionGuard } from "./subscription.guard.js";

/**
 * Looks up the spec of a route once (method metadata wins over controller metadata) and remembers it.
 * Handlers are keyed under their controller, since an inherited method serves several controllers.
 */
export class MeterSpecs {
  private readonly cache = new Map<Function, Map<Function, MeterSpec | undefined>>();

  constructor(private readonly reflector: Reflector) {}

  of(context: ExecutionContext): MeterSpec | undefined {
    const cls = context.getClass();
    const handler = context.getHandler();
    let byHandler = this.cache.get(cls);
    if (!byHandler) this.cache.set(cls, (byHandler = new Map()));
    if (byHandler.has(handler)) return byHandler.get(handler);
    const spec = this.reflector.getAllAndOverride<MeterSpec | undefined>(METER_METADATA, [handler, cls]);
    byHandler.set(handler, spec);
    return spec;
  }
}

/**
 * Runs only on routes decorated with `@Meter(dimension, number)` or `@SkipMetering()`: it tells the
 * after-response hook which spec applies. Undecorated routes pay nothing for it.
 */
@Injectable()
export class MeterGuard implements CanActivate {
  private readonly specs: MeterSpecs;

  constructor(reflector: Reflector) {
    this.specs = new MeterSpecs(reflector);
  }

  canActivate(context: ExecutionContext): boolean {
    const spec = this.specs.of(context);
    if (spec) applySpec(context.switchToHttp().getRequest(), spec);
    return true;
  }
}

/** Runs only on routes whose quantity is a function: keeps the handler's result for it. */
@Injectable()
export class MeterResultInterceptor implements NestInterceptor {
  private readonly specs: MeterSpecs;

  constructor(reflector: Reflector) {
    this.specs = new MeterSpecs(reflector);
  }

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const req = context.switchToHttp().getRequest();
    const spec = this.specs.of(context);
    if (spec) applySpec(req, spec);
    return next.handle().pipe(
      tap((value) => {
        req[REQ_RESULT] = value;
      }),
    );
  }
}

function invalidArgument(message: string): never {
  throw new MarketplaceError("INVALID_CONFIG", message);
}

/**
 * Meters the route (or every route of the controller) under `dimension`, instead of one unit of the
 * default dimension. The quantity is a non-negative integer, or a function of the request, the response
 * and the handler's return value (`result`); it is read after the response is sent, and only responses
 * that `shouldMeter` accepts (by default: status below 400) are billed.
 *
 * @default quantity 1
 * @example
 * @Meter("gb_stored", (req, res, result) => (result as Upload).sizeGb)
 * @Post("uploads")
 * upload(@Body() body: UploadDto) { … }
 */
export function Meter<Req = any, Res = any>(
  dimension: string,
  quantity: MeterQuantity<Req, Res> = 1,
): ClassDecorator & MethodDecorator {
  if (typeof dimension !== "string")
    invalidArgument("@Meter(dimension, quantity?): dimension must be a string");
  const spec: MeterSpec = Object.freeze(
    http.parseMeterSpec<unknown[]>(dimension, quantity as http.QuantitySpec<unknown[]>),
  );
  return applyDecorators(
    SetMetadata(METER_METADATA, spec),
    typeof quantity === "function" ? UseInterceptors(MeterResultInterceptor) : UseGuards(MeterGuard),
  );
}

/**
 * Nothing is recorded for this route (or controller), e.g. health checks and webhooks.
 *
 * @example
 * @SkipMetering()
 * @Get("health")
 * health() { return "ok" }
 */
export function SkipMetering(): ClassDecorator & MethodDecorator {
  return applyDecorators(SetMetadata(METER_METADATA, SKIP), UseGuards(MeterGuard));
}

/** Options of `@RequireSubscription()`. */
export interface RequireSubscriptionOptions {
  /** Overrides the module's `failOpen` for this route or controller. @default the module's `failOpen` */
  failOpen?: boolean;
}

/**
 * Refuses buyers without a current AWS Marketplace subscription: 403 (not registered, pending) or 402
 * (cancelled, no entitlement), with a problem JSON body; 503 when the check itself fails (unless
 * `failOpen`). Uses `getCustomer` to know who is asking. The decision is then available as `getAccess(req)`.
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
    invalidArgument("@RequireSubscription(options?): options must be { failOpen?: boolean }");
  return applyDecorators(
    SetMetadata(SUBSCRIPTION_METADATA, Object.freeze({ ...options })),
    UseGuards(SubscriptionGuard),
    UseFilters(SubscriptionProblemFilter),
  );
}
