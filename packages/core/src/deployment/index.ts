// Front door of the deployment concern: container, AMI and AgentCore products (RegisterUsage, MeterUsage).

export type { AgentCoreMetering } from "./agentcore.js";
export type {
  DeploymentInfo,
  DeploymentMarketplace,
  DeploymentMode,
  DeploymentOptions,
  EmulatedPlatform,
} from "./deployment.js";
export { createDeployment, METER_USAGE_WINDOW_MS } from "./deployment.js";
export type { RegistrationClaims, VerifyExpectations } from "./jwt.js";
export { verifyRegistration } from "./jwt.js";
export type { ResolveRegionOptions } from "./region.js";
export {
  deploymentRegion,
  isRegionName,
  regionOfArn,
  regionOfZone,
  resolveDeploymentRegion,
} from "./region.js";
export type { ClientTokenInput } from "./token.js";
export { CLIENT_TOKEN_LENGTH, clientToken } from "./token.js";
