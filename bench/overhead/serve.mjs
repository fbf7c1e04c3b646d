// Server child for the harness: `node serve.mjs <framework> <variant>[,<variant>…]` starts those variants
// of one framework (see servers.mjs) in this process, each on its own port, and answers the harness
// over IPC.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
process.env.AWS_EC2_METADATA_DISABLED ??= "true";
import { serveVariants } from "./harness.mjs";
import { start } from "./servers.mjs";

const [framework, variants] = process.argv.slice(2);
await serveVariants(variants.split(","), async (v) => {
  const s = await start(framework, v);
  return { ...s, stats: s.marketplace ? () => s.marketplace.stats().records : undefined };
});
