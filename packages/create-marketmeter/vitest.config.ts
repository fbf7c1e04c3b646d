import { defineProject } from "vitest/config";

export default defineProject({
  // Scaffolding installs real dependencies and runs each starter's smoke test: minutes, not seconds.
  test: {
    name: "create-marketmeter",
    include: ["test/**/*.test.ts"],
    testTimeout: 300_000,
    hookTimeout: 300_000,
  },
});
