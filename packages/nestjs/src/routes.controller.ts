/**
 * The fulfillment URL and the lifecycle webhooks as a Nest controller. The class is built per module
 * definition, so its paths come from `routes` rather than from fixed decorators.
 */
import * as http from "@marketmeter/core/http";
import { Controller, Get, Inject, Post, Req, Res, type Type } from "@nestjs/common";
import { HttpAdapterHost } from "@nestjs/core";
import { MARKETPLACE_OPTIONS } from "./constants.js";
import { SkipMetering } from "./decorators.js";
import { toIncoming, write } from "./http.js";
import type { MarketplaceRoutes, ResolvedModuleOptions } from "./options.js";

export function createRoutesController(routes: MarketplaceRoutes): Type<unknown> {
  @SkipMetering()
  @Controller()
  class MarketplaceRoutesController {
    constructor(
      @Inject(MARKETPLACE_OPTIONS) readonly o: ResolvedModuleOptions,
      readonly host: HttpAdapterHost,
    ) {}

    async register(@Req() req: any, @Res() res: any): Promise<void> {
      const o = this.o.registration as http.ResolvedRegistrationOptions;
      const target = this.o.marketplace;
      let result: http.HttpResult;
      try {
        result = await http.handleRegistration(target, await toIncoming(req, o.maxBodyBytes), o);
      } catch (err) {
        // Only reading the body can throw here (too large, connection lost).
        result = http.registrationError(err, (req.raw ?? req).headers?.accept, o);
      }
      write(this.host.httpAdapter, res, result);
    }

    // GET reaches the core too, which refuses it (405, Allow: POST) unless registration.allowGet.
    async registerByGet(@Req() req: any, @Res() res: any): Promise<void> {
      await this.register(req, res);
    }

    async eventBridge(@Req() req: any, @Res() res: any): Promise<void> {
      await this.webhook("eventBridge", req, res);
    }

    async sns(@Req() req: any, @Res() res: any): Promise<void> {
      await this.webhook("sns", req, res);
    }

    private async webhook(kind: http.WebhookKind, req: any, res: any): Promise<void> {
      const o = this.o.webhooks as http.ResolvedWebhookOptions;
      let result: http.HttpResult;
      try {
        result = await http.handleWebhook(this.o.marketplace, kind, await toIncoming(req, o.maxBodyBytes), o);
      } catch (err) {
        result = http.webhookError(err, kind, o);
      }
      write(this.host.httpAdapter, res, result);
    }
  }

  const proto = MarketplaceRoutesController.prototype as unknown as Record<string, unknown>;
  const mount = (
    path: string | undefined,
    method: "register" | "registerByGet" | "eventBridge" | "sns",
    verb = Post,
  ) => {
    if (path === undefined) return;
    verb(path)(proto, method, Object.getOwnPropertyDescriptor(proto, method) as PropertyDescriptor);
  };
  mount(routes.registration, "register");
  mount(routes.registration, "registerByGet", Get);
  mount(routes.eventBridge, "eventBridge");
  mount(routes.sns, "sns");
  return MarketplaceRoutesController;
}
