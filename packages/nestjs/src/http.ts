/** Translation between Nest's platform request/response and the core's HTTP layer. */
import { type IncomingRequest, http } from "@marketmeter/core";
import type { AbstractHttpAdapter } from "@nestjs/core";

/**
 * The request as the core reads it. Raw bytes are preferred (SNS signatures and the registration form
 * are checked on exact bytes): Nest's `rawBody` when enabled, else the stream when no body parser
 * consumed it, else what the parser produced.
 */
export async function toIncoming(req: any, maxBytes: number): Promise<IncomingRequest> {
  // Fastify keeps the Node request on `.raw`; on Express the request is the Node request.
  const raw = req.raw ?? req;
  const body = Buffer.isBuffer(req.rawBody) ? req.rawBody : await http.readNodeBody(raw, maxBytes, req.body);
  return { method: raw.method, headers: raw.headers, url: raw.originalUrl ?? raw.url, ...(body !== undefined ? { body } : {}) };
}

/** Writes a core answer through the platform adapter (Express or Fastify). */
export function write(adapter: AbstractHttpAdapter, res: unknown, result: http.HttpResult): void {
  for (const [name, value] of Object.entries(result.headers)) adapter.setHeader(res, name, value);
  adapter.reply(res, result.body, result.status);
}
