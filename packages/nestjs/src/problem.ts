/** The Nest-native error of `SubscriptionGuard`, carrying the core's problem details body. */
import { type Problem, http } from "@marketmeter/core";
import { HttpException } from "@nestjs/common";

/**
 * Thrown by `SubscriptionGuard` with an RFC 9457 problem body (402, 403 or 503). Nest's exception layer
 * writes it, so an app's own exception filters still see it and may reshape it.
 *
 * @example
 * @Catch(SubscriptionRequiredException)
 * export class PaywallFilter implements ExceptionFilter { … }
 */
export class SubscriptionRequiredException extends HttpException {
  readonly problem: Problem;

  constructor(problem: Problem) {
    super(problem, problem.status);
    this.problem = problem;
  }
}

/** `application/problem+json`. */
export const PROBLEM_CONTENT_TYPE: string = http.PROBLEM_JSON;
