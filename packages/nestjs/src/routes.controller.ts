/**
 * The fulfillment URL and the lifecycle webhooks as a Nest controller over the core's route helper. The
 * class is built per module definition, so its paths come from `routes` rather than from fixed decorators.
 */
import type { IncomingMessage } from "node:http";
import { MarketplaceError } from "@marketmeter/core";
import * as http from "@marketmeter/core/http";
import { Controller, Get, Inject, Post, Req, Res, type Type } from "@nestjs/common";
import { HttpAdapterHost } from "@nestjs/core";
import { SkipMetering } from "./decorators.js";
import { type MarketplaceRoutes, RESOLVED, type Resolved } from "./options.js";

/** What a handler sees: Express's request (a Node request) or Fastify's (the Node request on `.raw`). */
interface PlatformRequest {
  raw?: IncomingMessage;
  rawBody?: unknown;
  body?: unknown;
  originalUrl?: string;
}

/** A body a parser already turned into an object, back into text of its media type, so the core checks it as bytes. */
function reencode(parsed: unknown, contentType: string | undefined): http.ParsedBody {
  if (parsed === undefined || parsed === null) return undefined;
  if (typeof parsed === "string" || parsed instanceof Uint8Array) return parsed;
  if (typeof parsed !== "object") return undefined;
  const type = contentType?.split(";")[0]?.trim().toLowerCase();
  if (type === "application/x-www-form-urlencoded") {
    const form = new URLSearchParams();
    for (const [k, v] of Object.entries(parsed))
      for (const x of Array.isArray(v) ? v : [v]) form.append(k, String(x));
    return form.toString();
  }
  if (type === "application/json" || type?.endsWith("+json")) return JSON.stringify(parsed);
  return parsed as Readonly<Record<string, unknown>>;
}

/**
 * Raw bytes are preferred (SNS signatures and the registration form are checked on exact bytes): Nest's
 * `rawBody` when enabled, else the stream when no body parser consumed it, else the parser's result.
 */
async function read(req: PlatformRequest, raw: IncomingMessage, maxBytes: number): Promise<http.ParsedBody> {
  if (Buffer.isBuffer(req.rawBody)) return req.rawBody;
  if (raw === req && !raw.readableEnded) return http.readNodeBody(raw, maxBytes);
  // A body parser that ran first used its own, larger limit; the declared length still tells the truth.
  if (Number(raw.headers["content-length"]) > maxBytes)
    throw new MarketplaceError("INVALID_REQUEST", `request body is larger than ${maxBytes} bytes`, {
      details: { httpStatus: 413 },
    });
  return reencode(req.body, raw.headers["content-type"]);
}

export function createRoutesController(routes: MarketplaceRoutes): Type<unknown> {
  @SkipMetering()
  @Controller()
  class MarketplaceRoutesController {
    constructor(
      @Inject(RESOLVED) readonly o: Resolved,
      readonly host: HttpAdapterHost,
    ) {}

    serve(kind: http.RouteKind, req: PlatformRequest, res: unknown): Promise<void> {
      // Fastify keeps the Node request on `.raw`; on Express the request is the Node request.
      const raw = req.raw ?? (req as IncomingMessage & PlatformRequest);
      const adapter = this.host.httpAdapter;
      return (this.o.routes[kind] as http.Route).serve({
        method: raw.method ?? "GET",
        headers: raw.headers,
        url: req.originalUrl ?? raw.url,
        read: (maxBytes) => read(req, raw, maxBytes),
        write: (result) => {
          for (const [name, value] of Object.entries(result.headers)) adapter.setHeader(res, name, value);
          adapter.reply(res, result.body, result.status);
        },
      });
    }

    register(@Req() req: PlatformRequest, @Res() res: unknown): Promise<void> {
      return this.serve("registration", req, res);
    }

    // GET reaches the core too, which refuses it (405, Allow: POST) unless registration.allowGet.
    registerByGet(@Req() req: PlatformRequest, @Res() res: unknown): Promise<void> {
      return this.serve("registration", req, res);
    }

    eventBridge(@Req() req: PlatformRequest, @Res() res: unknown): Promise<void> {
      return this.serve("eventBridge", req, res);
    }

    sns(@Req() req: PlatformRequest, @Res() res: unknown): Promise<void> {
      return this.serve("sns", req, res);
    }

    async usage(which: "page" | "buyer", req: PlatformRequest, res: unknown): Promise<void> {
      const raw = req.raw ?? (req as IncomingMessage & PlatformRequest);
      const handle = this.o.usage[which] as http.UsagePage<[object]>;
      const result = await handle({
        method: raw.method ?? "GET",
        url: req.originalUrl ?? raw.url ?? "/",
        headers: raw.headers,
        // The socket's peer, never X-Forwarded-For (any client can set it).
        remoteAddress: raw.socket?.remoteAddress,
        args: [req],
      });
      const adapter = this.host.httpAdapter;
      for (const [name, value] of Object.entries(result.headers)) adapter.setHeader(res, name, value);
      adapter.reply(res, result.body, result.status);
    }

    usagePage(@Req() req: PlatformRequest, @Res() res: unknown): Promise<void> {
      return this.usage("page", req, res);
    }

    buyerUsage(@Req() req: PlatformRequest, @Res() res: unknown): Promise<void> {
      return this.usage("buyer", req, res);
    }
  }

  // One mapping per method: Nest keeps a single path and verb on each handler.
  const proto = MarketplaceRoutesController.prototype;
  const mount = (
    path: string | undefined,
    method: "register" | "registerByGet" | "eventBridge" | "sns" | "usagePage" | "buyerUsage",
    verb = Post,
  ) => {
    if (path !== undefined)
      verb(path)(proto, method, Object.getOwnPropertyDescriptor(proto, method) as PropertyDescriptor);
  };
  mount(routes.registration, "register");
  mount(routes.registration, "registerByGet", Get);
  mount(routes.eventBridge, "eventBridge");
  mount(routes.sns, "sns");
  mount(routes.usagePage, "usagePage", Get);
  mount(routes.buyerUsage, "buyerUsage", Get);
  return MarketplaceRoutesController;
}
