// PLACEHOLDER until the notifier lands: owned by the notify/ui helper. Signatures are the contract.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { LifecycleNotification, WebhookConfig } from "../types.js";

export interface NotifierOptions {
  webhooks: WebhookConfig;
  sellerAccountId: string;
  /** Absolute URL under which the emulator serves `/_emulator/sns/*` (e.g. http://127.0.0.1:PORT). */
  baseUrl: () => string;
  now: () => Date;
}

export interface DeliveryLog {
  kind: "eventbridge" | "sns";
  url: string;
  type: string;
  status: number | "error";
  attempts: number;
  time: string;
}

export interface Notifier {
  /** Delivers one lifecycle change to every configured webhook; resolves when delivery attempts end. */
  emit(n: LifecycleNotification): Promise<void>;
  /** Handles `/_emulator/sns/*` (certificate download, subscription confirmation); false if not handled. */
  handle(req: IncomingMessage, res: ServerResponse, url: URL): boolean;
  setWebhooks(webhooks: WebhookConfig): void;
  deliveries(): DeliveryLog[];
  certificatePem: string;
  close(): Promise<void>;
}

export function createNotifier(_options: NotifierOptions): Notifier {
  throw new Error("notifier not implemented yet");
}
