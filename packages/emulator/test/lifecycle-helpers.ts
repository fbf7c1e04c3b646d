export { BatchMeterUsageCommand, ResolveCustomerCommand } from "@aws-sdk/client-marketplace-metering";
export * from "./helpers.js";
