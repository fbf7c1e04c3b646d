import { describeAdapterConformance } from "@marketmeter/adapter-conformance";
import { nestAdapters } from "./conformance-app.js";

for (const adapter of nestAdapters) describeAdapterConformance(adapter);
