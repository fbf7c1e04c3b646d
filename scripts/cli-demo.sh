#!/usr/bin/env bash
# Builds what the CLI demo needs, then runs it (see scripts/cli-demo.mjs).
set -euo pipefail
cd "$(dirname "$0")/.."
pnpm turbo run build --filter=@marketmeter/cli --filter=@marketmeter-examples/express-saas --output-logs=errors-only >&2
exec node scripts/cli-demo.mjs
