// The `marketmeter` executable: runs one command and exits with its documented code.
import { main } from "./main.js";

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
const code = await main(process.argv.slice(2), {
  env: process.env,
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
});
// exitCode, not exit(): stdout is flushed first when it is a pipe.
process.exitCode = code;
