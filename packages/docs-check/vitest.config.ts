import { defineProject } from "vitest/config";

export default defineProject({
  test: {
    name: "docs-check",
    include: ["test/**/*.test.ts"],
    // One TypeScript program over every snippet: a cold compile takes a few seconds on a shared machine.
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
