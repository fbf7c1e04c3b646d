import { defineProject } from "vitest/config";

export default defineProject({
  test: {
    name: "hono",
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
    // The promises the public types make, checked by the compiler (test/*.test-d.ts).
    typecheck: { enabled: true, include: ["test/**/*.test-d.ts"], tsconfig: "./tsconfig.json" },
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
