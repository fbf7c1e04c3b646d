// Prints the closing line CI reads: `tests: N passed, N failed, N skipped`. Zero tests is a failure.
import { readFileSync } from "node:fs";

const report = JSON.parse(readFileSync(process.argv[2], "utf8"));
const skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
const failed = report.numFailedTests ?? 0;
// A suite that fails to load (syntax error, missing service) counts no test but must fail the run.
const brokenSuites = (report.testResults ?? []).filter(
  (s) => s.status === "failed" && (s.assertionResults ?? []).length === 0,
).length;
if (brokenSuites > 0) console.error(`${brokenSuites} test file(s) failed to load`);
if ((report.numTotalTests ?? 0) === 0) {
  console.error("no tests ran");
  process.exitCode = 1;
}
if (failed > 0 || brokenSuites > 0) process.exitCode = 1;
console.log(
  `tests: ${report.numPassedTests ?? 0} passed, ${failed + brokenSuites} failed, ${skipped} skipped`,
);
