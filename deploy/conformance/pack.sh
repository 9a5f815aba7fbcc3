#!/usr/bin/env bash
# Packs the conformance kit on its own, as the npm package docker-plugin-conformance: the
# compiled plugin-spec/ (a leaf: it imports zod and node built-ins only), the JSON Schemas of
# every request and reply, the recorded dockerd 20.10 and 28.5 fixtures, and the kit's guide as
# its README. Prints the tarball's path.
#
#   bash deploy/conformance/pack.sh [OUT_DIR]      # default dist/pack
#   npm install -g ./dist/pack/docker-plugin-conformance-*.tgz
#   docker-plugin-conformance --socket /run/docker/plugins/myplugin.sock
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$(realpath -m "${1:-dist/pack}")

npm run -s build >&2
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

# The current sources decide what goes in, not what dist/ may still hold from older builds.
while IFS= read -r src; do
  js=${src%.ts}.js
  mkdir -p "$stage/$(dirname "$js")"
  cp "dist/plugin-spec/$js" "$stage/$js"
done < <(cd plugin-spec && find . -name '*.ts' ! -name '*.test.ts' ! -name 'generate-json-schema.ts' | sed 's#^\./##' | sort)
chmod +x "$stage/conformance/cli.js"
cp -r plugin-spec/json-schema plugin-spec/fixtures "$stage/"
cp plugin-spec/README.md "$stage/README.md"

node --input-type=module - "$stage" <<'JS'
import { readFileSync, writeFileSync } from 'node:fs';
const root = JSON.parse(readFileSync('package.json', 'utf8'));
const pkg = {
  name: 'docker-plugin-conformance',
  version: root.version,
  description: 'Checks any Docker network or IPAM plugin against what dockerd 20.10 and 28.5 send and expect',
  type: 'module',
  license: root.license,
  engines: root.engines,
  bin: { 'docker-plugin-conformance': 'conformance/cli.js' },
  exports: {
    './run': './conformance/run.js',
    './report': './conformance/report.js',
    './methods': './methods.js',
    './json-schema/*': './json-schema/*',
    './fixtures/*': './fixtures/*',
  },
  dependencies: { zod: root.dependencies.zod },
};
writeFileSync(`${process.argv[2]}/package.json`, `${JSON.stringify(pkg, null, 2)}\n`);
JS

mkdir -p "$out"
file=$(cd "$stage" && npm pack --silent --pack-destination "$out" | tail -1)
echo "$out/$file"
