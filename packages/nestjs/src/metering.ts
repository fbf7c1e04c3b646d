/** After-response metering: the core's metering engine, fed with the spec the route's decorators chose. */
import * as http from "@marketmeter/core/http";
import type { Args, Resolved } from "./options.js";

/** The handler's return value, kept only on routes whose quantity function needs it. */
export const REQ_RESULT = Symbol.for("marketmeter.nestjs.result");

// Undecorated requests share one read-only state, so the hot path allocates nothing per request.
const METER_ALL = http.DEFAULT_METER_STATE as http.MeterState<Args>;
const METER_NONE: http.MeterState<Args> = Object.freeze({ ...METER_ALL, skip: true });

export class Metering {
  private readonly meter: http.Meter<Args>;
  private readonly fallback: http.MeterState<Args>;
  /** Undecorated routes are metered by default and nothing needs the handler's result. */
  private readonly plain: boolean;

  constructor(o: Resolved) {
    this.meter = o.meter;
    this.fallback = o.meterAll ? METER_ALL : METER_NONE;
    this.plain = o.meterAll && !o.shouldMeter;
  }

  /** Once per finished response, with what handlers see (Express request/response, Fastify request/reply). Never throws. */
  finished(req: object, res: { statusCode: number }): void {
    const found = http.findMeterState<Args>(req);
    // An undecorated route with nothing reading the handler's result: the engine's allocation-free path.
    if (found === undefined && this.plain) {
      void this.meter.finishDefault(res.statusCode, req, res);
      return;
    }
    const state = found ?? this.fallback;
    if (state.skip) return;
    void this.meter.finish(state, res.statusCode, [req, res, (req as Record<symbol, unknown>)[REQ_RESULT]]);
  }
}
