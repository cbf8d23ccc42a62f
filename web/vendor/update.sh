#!/usr/bin/env bash
# Fetches lightweight-charts again from the npm registry and vendors its self-contained ES module
# build and licence here. The binary embeds these files; `cargo build` never needs node.
#   web/vendor/update.sh            # the version pinned below
#   web/vendor/update.sh 5.3.1      # another version (then update VERSION below and commit)
set -euo pipefail
VERSION="${1:-5.3.0}"
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "lightweight-charts@$VERSION" >/dev/null && tar xzf lightweight-charts-*.tgz)
cp "$work/package/dist/lightweight-charts.standalone.production.mjs" "$here/lightweight-charts.mjs"
cp "$work/package/LICENSE" "$here/LICENSE-lightweight-charts.txt"
echo "lightweight-charts $VERSION vendored into $here"
