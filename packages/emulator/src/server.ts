import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { ApiServer } from "./api.js";
import type { EmulatorClock } from "./clock.js";
import type {
  Customer,
  CustomerConfig,
  EmulatorConfig,
  Entitlement,
  EntitlementConfig,
  License,
  LicenseConfig,
  Product,
  ProductConfig,
} from "./config.js";
import { handleControl } from "./control.js";
import { EmulatorError, invalidArgument } from "./errors.js";
import type { FaultConfig } from "./faults.js";
import { postFulfillmentForm, type SetUpAccountResult } from "./marketplace/setup.js";
import { createNotifier, type Notifier, validateWebhooks } from "./notify/index.js";
import type { Profile, ProfilePatch } from "./profile.js";
import {
  type BuyerRef,
  type BuyerState,
  EmulatorState,
  type LedgerFilter,
  type MintTokenInput,
  type SubscribeInput,
} from "./state.js";
import type { ApiCall, BilledRecord, DuplicateAttempt, RejectedRequest, WebhookConfig } from "./types.js";
import { sendJson } from "./wire/http.js";

/** Options of {@link startEmulator}. */
export interface StartEmulatorOptions {
  /** TCP port; 0 picks a free one. @default 0 */
  port?: number;
  /** Interface to bind. @default "127.0.0.1" */
  host?: string;
  /** Fixtures, profile, faults, webhooks and clock, as an object or the path of a JSON file. */
  config?: EmulatorConfig | string;
  /** Seed of the PRNG behind probabilistic faults (same seed, same faults). @default 1 */
  seed?: number;
  /** Receives one line per API call (and notifier problems). Registration tokens are never logged. */
  log?: (line: string) => void;
  /**
   * Monotonic milliseconds behind the rate limits; pass a controllable source to test throttling exactly.
   * @default performance.now
   */
  rateClock?: () => number;
}

/** A running emulator: its endpoint plus the programmatic twin of the control API. */
export interface Emulator {
  /** Base URL to give AWS clients as `endpoint`, e.g. `http://127.0.0.1:41234`. */
  readonly endpoint: string;
  readonly port: number;
  /** Controllable clock (real time by default). */
  readonly clock: EmulatorClock;
  /** The underlying state, for advanced inspection. */
  readonly state: EmulatorState;
  /** PEM public key that verifies RegisterUsage signatures (also at `GET /_emulator/keys/register-usage.pem`). */
  registerUsagePublicKey(): Promise<string>;
  /** The notifier, once it could be created (undefined while notifications are unavailable). */
  notifier(): Notifier | undefined;
  /** Issues a registration token (for a license, a legacy customer or productCode + account) and returns it. */
  mintToken(input: MintTokenInput): string;
  /**
   * "Set up your account": mints a registration token for the buyer and POSTs the
   * Marketplace form to your fulfillment URL, as the buyer's browser would. Loopback URLs only.
   *
   * @example
   * const { status, location } = await emu.setUpAccount({ licenseArn, fulfillmentUrl: `${app}/marketplace/register` })
   */
  setUpAccount(
    input: MintTokenInput & { fulfillmentUrl: string; freeTrial?: boolean },
  ): Promise<SetUpAccountResult>;
  addProduct(input: ProductConfig): Product;
  addLicense(input: LicenseConfig): License;
  addCustomer(input: CustomerConfig): Customer;
  /** Activates or creates a subscription; emits `agreement-created`/`license-updated` or `subscribe-success`/`subscribe-fail`. */
  subscribe(input: SubscribeInput): Promise<BuyerState>;
  /** Buyer cancels; emits `unsubscribe-pending` (then `unsubscribe-success` after the final window) or ends the agreement. */
  unsubscribe(ref: BuyerRef): Promise<BuyerState>;
  /** Ends a license (per `profile.deprovisionOrder`) or a legacy subscription. */
  deprovision(ref: BuyerRef): Promise<BuyerState>;
  /** Suspends (or with `suspended: false` un-suspends) a license, customer or account. */
  suspend(
    ref: BuyerRef & { suspended?: boolean },
  ): Promise<BuyerState | { kind: "account"; customerAWSAccountId: string }>;
  /** Replaces entitlements for the buyers named and notifies them. */
  setEntitlements(
    entitlements: EntitlementConfig[],
    options?: { replaceAll?: boolean },
  ): Promise<Entitlement[]>;
  /** Replaces (or with `merge`, updates per operation) the injected faults; returns the active set. */
  setFaults(faults: FaultConfig, options?: { merge?: boolean }): FaultConfig;
  /** Changes profile options; returns the whole profile. */
  setProfile(patch: ProfilePatch): Profile;
  /** Where lifecycle notifications go. */
  setWebhooks(webhooks: WebhookConfig): void;
  /** Billed records (first writes), oldest first. */
  ledger(filter?: LedgerFilter): BilledRecord[];
  /** Records answered `DuplicateRecord` / `DuplicateRequestException`. */
  duplicates(): DuplicateAttempt[];
  /** Requests answered with an error. */
  rejected(): RejectedRequest[];
  /** Every AWS API call, oldest first. */
  calls(): ApiCall[];
  /** Back to the initial config (fixtures, profile, faults, clock); clears ledger and logs. */
  reset(): void;
  /** Runs lifecycle events that are due at the current emulator time (the clock does this on its own too). */
  settle(): Promise<void>;
  /** Stops the server. */
  close(): Promise<void>;
}

/**
 * Starts a local AWS Marketplace Metering + Entitlement emulator on 127.0.0.1.
 *
 * @example
 * import { startEmulator, demoConfig } from "@marketmeter/emulator";
 * import { MarketplaceMeteringClient } from "@aws-sdk/client-marketplace-metering";
 *
 * const emu = await startEmulator({ config: demoConfig({ frozen: true }) });
 * const client = new MarketplaceMeteringClient({
 *   region: "us-east-1", endpoint: emu.endpoint,
 *   credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" },
 * });
 * // … send commands, then inspect emu.ledger()
 * await emu.close();
 */
export async function startEmulator(options: StartEmulatorOptions = {}): Promise<Emulator> {
  if (typeof options !== "object" || options === null)
    throw invalidArgument("startEmulator options must be an object");
  const port = options.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw invalidArgument(`port must be an integer 0–65535; got ${String(options.port)}`);
  const host = options.host ?? "127.0.0.1";
  if (typeof host !== "string" || !host) throw invalidArgument("host must be a non-empty string");
  if (options.log !== undefined && typeof options.log !== "function")
    throw invalidArgument("log must be a function");
  const log = options.log;

  let endpoint = "";
  let notifier: Notifier | undefined;
  let notifierError: string | undefined;
  // The notifier is built on first need, and a notifier that cannot be built only disables notifications.
  const getNotifier = (): Notifier | undefined => {
    if (notifier || notifierError) return notifier;
    try {
      // Built without the configured webhooks, so a bad webhook can never disable notifications for good.
      notifier = createNotifier({
        webhooks: {},
        sellerAccountId: state.sellerAccountId,
        baseUrl: () => endpoint,
        now: () => state.clock.now(),
      });
    } catch (err) {
      notifierError = (err as Error)?.message ?? String(err);
      log?.(`notifications disabled: ${notifierError}`);
    }
    if (notifier) notifier.setWebhooks(state.webhooks);
    return notifier;
  };
  const state = new EmulatorState({
    config: options.config,
    seed: options.seed,
    rateClock: options.rateClock,
    log,
    emit: async (n) => {
      await getNotifier()?.emit(n);
    },
  });
  // Configured webhooks are checked at start, so a bad one is a startup error, not silence later.
  if (state.webhooks) validateWebhooks(state.webhooks);
  const api = new ApiServer(state, log);
  const setWebhooks = (w: WebhookConfig) => {
    // Refused before it is stored (e.g. an address off this machine): the old webhooks stay in force.
    validateWebhooks(w);
    state.webhooks = w;
    getNotifier()?.setWebhooks(w);
  };

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    void (async () => {
      let url: URL;
      try {
        url = new URL(req.url ?? "/", "http://emulator.local");
      } catch {
        url = new URL("http://emulator.local/");
      }
      if (url.pathname === "/_emulator" || url.pathname.startsWith("/_emulator/")) {
        await handleControl(
          {
            state,
            endpoint: () => endpoint,
            notifier: getNotifier,
            setWebhooks,
            publicKeyPem: async () => {
              await api.signer.ready();
              return api.signer.publicKeyPem;
            },
          },
          req,
          res,
          url,
        );
      } else {
        await api.handle(req, res, url);
      }
    })().catch((err) => {
      log?.(`unhandled: ${(err as Error)?.stack ?? String(err)}`);
      try {
        if (!res.headersSent)
          sendJson(res, 500, { __type: "InternalServiceErrorException", message: "internal error" });
        else res.destroy();
      } catch {
        // the socket is already gone
      }
    });
  });
  server.on("clientError", (_err, socket) => {
    if (socket.writable)
      socket.end("HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n");
    else socket.destroy();
  });
  server.keepAliveTimeout = 5000;

  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error) =>
      reject(
        new EmulatorError("EMU_INVALID_ARGUMENT", `cannot listen on ${host}:${port}: ${err.message}`, {
          cause: err,
        }),
      );
    server.once("error", onError);
    server.listen(port, host, () => {
      server.off("error", onError);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const urlHost = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
  endpoint = `http://${urlHost === "0.0.0.0" ? "127.0.0.1" : urlHost === "[::]" ? "[::1]" : urlHost}:${addr.port}`;
  // Close final windows on real time too, not only when the clock is moved or a request arrives.
  const timer = setInterval(() => {
    if (state.hasScheduled) void state.processDue();
  }, 1000);
  timer.unref();
  if (options.config && typeof options.config === "object" && options.config.webhooks) getNotifier();

  let closed = false;
  return {
    endpoint,
    port: addr.port,
    clock: state.clock,
    state,
    async registerUsagePublicKey() {
      await api.signer.ready();
      return api.signer.publicKeyPem;
    },
    notifier: getNotifier,
    mintToken: (input) => state.mintToken(input),
    setUpAccount: async (input) => {
      if (typeof input !== "object" || input === null) throw invalidArgument("setUpAccount needs an object");
      const { fulfillmentUrl, freeTrial, ...ref } = input;
      if (typeof fulfillmentUrl !== "string") throw invalidArgument("setUpAccount needs a fulfillmentUrl");
      return postFulfillmentForm(fulfillmentUrl, state.mintToken(ref), { freeTrial: freeTrial === true });
    },
    addProduct: (input) => state.addProduct(input),
    addLicense: (input) => state.addLicense(input),
    addCustomer: (input) => state.addCustomer(input),
    subscribe: (input) => state.subscribe(input),
    unsubscribe: (ref) => state.unsubscribe(ref),
    deprovision: (ref) => state.deprovision(ref),
    suspend: (ref) => state.suspend(ref),
    setEntitlements: (list, opts) => state.setEntitlements(list, opts),
    setFaults: (faults, opts) => state.setFaults(faults, opts),
    setProfile: (patch) => state.setProfile(patch),
    setWebhooks,
    ledger: (filter) => state.ledger(filter),
    duplicates: () => state.duplicates(),
    rejected: () => state.rejected(),
    calls: () => state.calls(),
    reset: () => {
      state.reset();
      if (notifier) notifier.setWebhooks(state.webhooks);
    },
    settle: () => state.processDue(),
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      try {
        await notifier?.close();
      } catch {
        // closing is best effort
      }
    },
  };
}
