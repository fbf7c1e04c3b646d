import { defineProject } from "vitest/config";

export default defineProject({
  test: {
    name: "pack-check",
    include: ["test/**/*.test.ts"],
    // Packing, an npm install and four tsc runs take minutes on a busy 2-CPU machine.
    testTimeout: 900_000,
  },
});
