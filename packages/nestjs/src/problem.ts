/** The Nest-native error of `SubscriptionGuard` and the filter that answers it as problem JSON. */
import type { Problem } from "@marketmeter/core";
import * as http from "@marketmeter/core/http";
import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException, Injectable } from "@nestjs/common";
import { HttpAdapterHost } from "@nestjs/core";

/**
 * Thrown by `SubscriptionGuard` with an RFC 9457 problem body (402, 403 or 503).
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
    const res = host.switchToHttp().getResponse();
    const result = http.problemResponse(exception.problem, { ...exception.headers });
    for (const [name, value] of Object.entries(result.headers)) adapter.setHeader(res, name, value);
    adapter.reply(res, result.body, result.status);
  }
}

/** `application/problem+json`. */
export const PROBLEM_CONTENT_TYPE: string = http.PROBLEM_JSON;
