/** Translation between Nest's platform request/response and the core's HTTP layer. */
import { type IncomingRequest, MarketplaceError } from "@marketmeter/core";
import * as http from "@marketmeter/core/http";
import type { AbstractHttpAdapter } from "@nestjs/core";

/**
 * A body a parser already turned into an object, back into text of its declared media type, so the core
 * applies the same checks (media type, size, fields) as to raw bytes.
 */
function reencode(parsed: unknown, contentType: unknown): IncomingRequest["body"] | undefined {
  if (parsed === undefined || parsed === null) return undefined;
  if (typeof parsed === "string" || parsed instanceof Uint8Array) return parsed;
  if (typeof parsed !== "object") return undefined;
  const type = typeof contentType === "string" ? contentType.split(";")[0]?.trim().toLowerCase() : undefined;
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
 * The request as the core reads it. Raw bytes are preferred (SNS signatures and the registration form
 * are checked on exact bytes): Nest's `rawBody` when enabled, else the stream when no body parser
 * consumed it, else what the parser produced, re-encoded.
 */
export async function toIncoming(req: any, maxBytes: number): Promise<IncomingRequest> {
  // Fastify keeps the Node request on `.raw`; on Express the request is the Node request.
  const raw = req.raw ?? req;
  let body: IncomingRequest["body"] | undefined;
  if (Buffer.isBuffer(req.rawBody)) body = req.rawBody;
  else if (raw === req && !raw.readableEnded) body = await http.readNodeBody(raw, maxBytes);
  else {
    // A body parser that ran first used its own, larger limit; the declared length still tells the truth.
    if (Number(raw.headers["content-length"]) > maxBytes)
      throw new MarketplaceError("INVALID_REQUEST", `request body is larger than ${maxBytes} bytes`, {
        details: { httpStatus: 413 },
      });
    body = reencode(req.body, raw.headers["content-type"]);
  }
  return {
    method: raw.method,
    headers: raw.headers,
    url: raw.originalUrl ?? raw.url,
    ...(body !== undefined ? { body } : {}),
  };
}

/** Writes a core answer through the platform adapter (Express or Fastify). */
export function write(adapter: AbstractHttpAdapter, res: unknown, result: http.HttpResult): void {
  for (const [name, value] of Object.entries(result.headers)) adapter.setHeader(res, name, value);
  adapter.reply(res, result.body, result.status);
}
