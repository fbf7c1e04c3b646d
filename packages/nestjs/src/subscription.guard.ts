/** `SubscriptionGuard`: lets only buyers with a current subscription through (`@RequireSubscription`). */
import type { AccessAllowed } from "@marketmeter/core";
import type { Problem } from "@marketmeter/core/http";
import * as http from "@marketmeter/core/http";
import {
  type ArgumentsHost,
  type CanActivate,
  Catch,
  type ExceptionFilter,
  type ExecutionContext,
  HttpException,
  Injectable,
} from "@nestjs/common";
import { HttpAdapterHost, ModuleRef, Reflector } from "@nestjs/core";
import { RESOLVED, type Resolved, SUBSCRIPTION_METADATA } from "./options.js";

/**
 * The refusal of `SubscriptionGuard` (402, 403 or 503), an `HttpException` whose response is the problem.
 *
 * @example
 * if (err instanceof SubscriptionRequiredException) console.log(err.problem.reason)
 */
export class SubscriptionRequiredException extends HttpException {
  readonly problem: Problem;
  readonly headers: Readonly<Record<string, string>>;

  constructor(problem: Problem, headers: Record<string, string> = {}) {
    super(problem, problem.status);
    this.problem = problem;
    this.headers = headers;
  }
}

/**
 * Writes `SubscriptionRequiredException` as `application/problem+json` (Nest's default filter would
 * rewrite the media type to `application/json`). `@RequireSubscription()` attaches it to the route.
 */
@Catch(SubscriptionRequiredException)
@Injectable()
export class SubscriptionProblemFilter implements ExceptionFilter<SubscriptionRequiredException> {
  constructor(private readonly host: HttpAdapterHost) {}

  catch(exception: SubscriptionRequiredException, host: ArgumentsHost): void {
    const adapter = this.host.httpAdapter;
    const res = host.switchToHttp().getResponse<unknown>();
    const result = http.problemResponse(exception.problem, { ...exception.headers });
    for (const [name, value] of Object.entries(result.headers)) adapter.setHeader(res, name, value);
    adapter.reply(res, result.body, result.status);
  }
}

/** `application/problem+json`. */
export const PROBLEM_CONTENT_TYPE: string = http.PROBLEM_JSON;

/**
 * Checks `getCustomer(req)` against the buyer directory (in memory) on routes marked
 * `@RequireSubscription()`. Fails closed: when the check itself fails the answer is 503, unless
 * `failOpen` is set. Also usable as a global guard (`APP_GUARD`): unmarked routes pass untouched.
 *
 * @example
 * providers: [{ provide: APP_GUARD, useClass: SubscriptionGuard }]
 */
@Injectable()
export class SubscriptionGuard implements CanActivate {
  private options: Resolved | undefined;

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
    this.options ??= this.moduleRef.get<Resolved>(RESOLVED, { strict: false });
    const req = context
      .switchToHttp()
      .getRequest<{ originalUrl?: string; url?: string; raw?: { url?: string } }>();
    const url = req.originalUrl ?? req.raw?.url ?? req.url;
    const result = await this.options.guard(marked.failOpen)([req], url?.split("?")[0]);
    if (result.allowed) {
      if (result.decision) (req as Record<symbol, unknown>)[http.SUBSCRIPTION_KEY] = result.decision;
      return true;
    }
    throw new SubscriptionRequiredException(result.problem, result.headers);
  }
}

/**
 * The access decision `SubscriptionGuard` made for this request (customer, identity, final window,
 * entitlements), or `undefined` when the route is not guarded (or the guard failed open).
 *
 * @example
 * const subscription = getSubscription(req); if (subscription?.finalWindow) warnLeaving()
 */
export function getSubscription(req: object): AccessAllowed | undefined {
  return (req as Record<symbol, AccessAllowed | undefined>)[http.SUBSCRIPTION_KEY];
}
