/** `SubscriptionGuard`: lets only buyers with a current subscription through (`@RequireSubscription`). */
import type { AccessAllowed } from "@marketmeter/core";
import * as http from "@marketmeter/core/http";
import { type CanActivate, type ExecutionContext, Injectable } from "@nestjs/common";
import { ModuleRef, Reflector } from "@nestjs/core";
import { MARKETPLACE_OPTIONS, SUBSCRIPTION_METADATA } from "./constants.js";
import type { ResolvedModuleOptions } from "./options.js";
import { SubscriptionRequiredException } from "./problem.js";

/**
 * Checks `getCustomer(req)` against the buyer directory (in memory) on routes marked
 * `@RequireSubscription()`; refuses with 402/403 and a problem body. Fails closed: when the check itself
 * fails the answer is 503, unless `failOpen` is set. Also usable as a global guard (`APP_GUARD`):
 * unmarked routes pass untouched.
 *
 * @example
 * providers: [{ provide: APP_GUARD, useClass: SubscriptionGuard }]
 */
@Injectable()
export class SubscriptionGuard implements CanActivate {
  private readonly guards = new Map<boolean, http.Guard<[unknown]>>();
  private options: ResolvedModuleOptions | undefined;

  // ModuleRef rather than the options token, so the guard works in modules that do not import ours.
  constructor(
    private readonly reflector: Reflector,
    private readonly moduleRef: ModuleRef,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const marked = this.reflector.getAllAndOverride<{ failOpen?: boolean } | undefined>(
      SUBSCRIPTION_METADATA,
      [context.getHandler(), context.getClass()],
    );
    if (!marked) return true;
    const o = (this.options ??= this.moduleRef.get<ResolvedModuleOptions>(MARKETPLACE_OPTIONS, {
      strict: false,
    }));
    const failOpen = marked.failOpen ?? o.failOpen;
    let guard = this.guards.get(failOpen);
    if (!guard) this.guards.set(failOpen, (guard = this.create(o, failOpen)));
    const req = context.switchToHttp().getRequest();
    const url: unknown = req.originalUrl ?? req.raw?.url ?? req.url;
    const result = await guard([req], typeof url === "string" ? url.split("?")[0] : undefined);
    if (result.allowed) {
      if (result.decision) req[http.SUBSCRIPTION_KEY] = result.decision;
      return true;
    }
    throw new SubscriptionRequiredException(result.problem, result.headers);
  }

  private create(o: ResolvedModuleOptions, failOpen: boolean): http.Guard<[unknown]> {
    return http.createGuard<[unknown]>(o.marketplace, {
      getCustomer: o.getCustomer,
      failOpen,
      ...(o.onError ? { onError: o.onError } : {}),
      logger: o.logger,
    });
  }
}

/**
 * The access decision `SubscriptionGuard` made for this request (customer, identity, final window,
 * entitlements), or `undefined` when the route is not guarded (or the guard failed open).
 *
 * @example
 * const access = getAccess(req); if (access?.finalWindow) warnLeaving()
 */
export function getAccess(req: object): AccessAllowed | undefined {
  return (req as Record<symbol, AccessAllowed | undefined>)[http.SUBSCRIPTION_KEY];
}
