// A small Nest app like a user would write, started for real on 127.0.0.1:0 on Express or Fastify.
import "reflect-metadata";
import {
  BadRequestException,
  Controller,
  Get,
  type INestApplication,
  Module,
  type ModuleMetadata,
  Post,
  Query,
} from "@nestjs/common";
import { NestFactory } from "@nestjs/core";
import { ExpressAdapter } from "@nestjs/platform-express";
import { FastifyAdapter } from "@nestjs/platform-fastify";
import { type CustomerRef, Meter, RequireSubscription, SkipMetering } from "../src/index.js";

export type Platform = "express" | "fastify";

@Controller()
export class ApiController {
  @Get("hello")
  hello() {
    return { hello: "world" };
  }

  @Get("bad")
  bad() {
    throw new BadRequestException("no");
  }

  @Get("boom")
  boom() {
    throw new Error("handler failed");
  }

  @Meter("gb_stored", 5)
  @Get("five")
  five() {
    return "five";
  }

  @Meter("gb_stored", (_req: unknown, _res: unknown, result: unknown) => (result as { size: number }).size)
  @Post("upload")
  upload(@Query("size") size: string) {
    return { size: Number(size) };
  }

  @SkipMetering()
  @Get("health")
  health() {
    return "ok";
  }

  @RequireSubscription()
  @Get("premium")
  premium() {
    return { premium: true };
  }
}

@Meter("gb_stored", 2)
@Controller("bulk")
export class BulkController {
  @Get("a")
  a() {
    return "a";
  }

  @SkipMetering()
  @Get("b")
  b() {
    return "b";
  }

  @Meter("api_calls")
  @Get("c")
  c() {
    return "c";
  }
}

/** Headers → customer: `x-account`+`x-license` (Concurrent Agreements), `x-customer` (legacy), `x-tenant`. */
export function customerFromHeaders(req: { headers: Record<string, string | undefined> }): CustomerRef {
  const h = req.headers;
  if (h["x-tenant"]) return { tenantId: h["x-tenant"] };
  if (h["x-customer"]) return { customerIdentifier: h["x-customer"], productCode: h["x-product"] };
  if (h["x-account"])
    return {
      customerAWSAccountId: h["x-account"],
      licenseArn: h["x-license"] as string,
      productCode: h["x-product"],
    };
  return undefined;
}

export interface Started {
  app: INestApplication;
  base: string;
  close(): Promise<void>;
}

export async function startApp(
  platform: Platform,
  imports: ModuleMetadata["imports"],
  controllers: ModuleMetadata["controllers"] = [ApiController, BulkController],
  options: { rawBody?: boolean | undefined } = {},
): Promise<Started> {
  @Module({ imports, controllers })
  class AppModule {}
  const adapter = platform === "express" ? new ExpressAdapter() : new FastifyAdapter();
  const app = await NestFactory.create(AppModule, adapter as never, {
    logger: false,
    rawBody: options.rawBody === true,
  });
  await app.listen(0, "127.0.0.1");
  const url = await app.getUrl();
  return { app, base: url.replace("[::1]", "127.0.0.1"), close: () => app.close() };
}
