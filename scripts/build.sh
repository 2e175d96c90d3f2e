#!/usr/bin/env bash
# Builds the Rust N-API module (when its sources changed) and the TypeScript (tsc), both in seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
if [ ! -f native/tessera.node ] || [ -n "$(find native/src native/Cargo.toml native/build.sh -newer native/tessera.node -print -quit 2>/dev/null)" ]; then
  echo "[build] native module" >&2
  bash native/build.sh
fi
if [ ! -f dist/.tsbuild ] || [ -n "$(find src workers bench tsconfig.json package.json -newer dist/.tsbuild -name '*.ts' -o -newer dist/.tsbuild -name '*.json' 2>/dev/null | head -1)" ]; then
  echo "[build] typescript" >&2
  # No `rm -rf dist`: running tests, benches and services keep importing from it while it rebuilds.
  npx tsc -p tsconfig.json
  touch dist/.tsbuild
fi
