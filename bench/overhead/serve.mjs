// Server child for the harness: `node serve.mjs <framework> <variant>[,<variant>…]` starts those variants
// of one framework (see servers.mjs) in this process, each on its own port, and answers the harness
// over IPC. `node serve.mjs <framework> switch <a>,<b>` starts one app that switches between two
// variants (the A/B method).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
process.env.AWS_EC2_METADATA_DISABLED ??= "true";

import { serveVariants } from "./harness.mjs";
import { start, startSwitch } from "./servers.mjs";

const [framework, ...rest] = process.argv.slice(2);
const stats = (s) => (s.marketplace ? () => s.marketplace.stats().records : undefined);
if (rest[0] === "switch") {
  const variants = rest[1].split(",");
  await serveVariants([variants.join("+")], async () => {
    const s = await startSwitch(framework, variants);
    return { ...s, stats: stats(s) };
  });
} else
  await serveVariants(rest[0].split(","), async (v) => {
    const s = await start(framework, v);
    return { ...s, stats: stats(s) };
  });
