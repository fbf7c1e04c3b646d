import { defineConfig } from "vitest/config";

// CI asks for a machine-readable report next to the normal output by setting MM_TEST_REPORT=<file>.
const report = process.env.MM_TEST_REPORT;

export default defineConfig({
  test: {
    projects: ["packages/*", "examples/*"],
    ...(report ? { reporters: ["default", "json"], outputFile: { json: report } } : {}),
  },
});
