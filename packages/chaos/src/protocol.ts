/** Messages between the test (parent) and an instance process, over the Node IPC channel. */

/** How an instance is configured: JSON in its CHAOS_INSTANCE environment variable. */
export interface InstanceConfig {
  instanceId: string;
  store: string;
  settings: Record<string, string>;
  /** The emulator's endpoint (AWS for this app). */
  endpoint: string;
  productCode: string;
  /** Business time (epoch ms) at start; then moved by `clock` messages. */
  now: number;
  /** Shared secret of the EventBridge notifications (lifecycle events from the emulator). */
  webhookSecret: string;
  /** File this instance appends every record it sends to, before sending it (survives SIGKILL). */
  sendLog: string;
}

/** Where a kill can be aimed: inside a checkpoint (store write) or inside a BatchMeterUsage call. */
export type Activity = "checkpoint" | "send";

export type ToInstance =
  | { type: "clock"; now: number; seq: number }
  /** SIGKILL yourself `delayMs` after the next activity of this kind starts. */
  | { type: "arm"; activity: Activity; delayMs: number }
  | { type: "flush"; seq: number }
  | { type: "close" };

export type FromInstance =
  | { type: "ready"; port: number }
  | { type: "clock"; seq: number }
  | { type: "flushed"; seq: number; error?: string }
  | { type: "closed" };
