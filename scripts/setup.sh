#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian 12 machine (root): system libraries, npm packages with gdal-async built
# against Debian's GDAL, the Rust N-API module and the TypeScript build. Each step runs only when it is missing
# or stale, so `npm test` and `npm run demo` stay fast after the first time.
set -euo pipefail
cd "$(dirname "$0")/.."
export AWS_EC2_METADATA_DISABLED=true AWS_EMF_ENVIRONMENT=Local

say() { printf '[setup] %s\n' "$*" >&2; }

# 1. System packages: GDAL headers for gdal-async, codec libraries the Rust module links, the gdal CLI for benches.
APT_PACKAGES=(libgdal-dev gdal-bin libjpeg62-turbo-dev libturbojpeg0-dev libpng-dev libdeflate-dev zlib1g-dev libopenjp2-7-dev pkg-config)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing system packages: ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then echo "setup: need root to apt-get install ${missing[*]}" >&2; exit 1; fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# 2. Rust toolchain (rustup's cargo is expected on the machine; no crates are downloaded).
if ! command -v cargo >/dev/null 2>&1; then
  if [ -x "$HOME/.cargo/bin/cargo" ]; then export PATH="$HOME/.cargo/bin:$PATH"
  else
    say "cargo not found: installing Debian's cargo/rustc"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq cargo rustc >/dev/null
  fi
fi

# 3. npm packages. gdal-async's prebuilt download fails here; shared_gdal builds it against libgdal-dev (~3 min).
stamp=node_modules/.tessera-installed
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ] || ! node -e "require('gdal-async')" 2>/dev/null; then
  say "installing npm packages (gdal-async builds against the system GDAL: a few minutes the first time)"
  npm_config_shared_gdal=true npm ci --no-audit --no-fund --loglevel=error
  touch "$stamp"
fi

# 4. Native module and TypeScript.
bash scripts/build.sh
