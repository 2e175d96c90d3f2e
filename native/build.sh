#!/usr/bin/env bash
# Builds the native module and installs it as native/tessera.node.
# Offline, no crates; needs libturbojpeg0-dev, libdeflate-dev and libopenjp2-7-dev.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

if ! command -v cargo >/dev/null 2>&1; then
  if [[ -x "$HOME/.cargo/bin/cargo" ]]; then
    export PATH="$HOME/.cargo/bin:$PATH"
  else
    echo "native/build.sh: cargo not found (install Rust via rustup)" >&2
    exit 1
  fi
fi
for h in /usr/include/turbojpeg.h /usr/include/libdeflate.h /usr/include/openjpeg-2.5/openjpeg.h; do
  if [[ ! -f "$h" ]]; then
    echo "native/build.sh: missing $h (apt-get install -y libturbojpeg0-dev libdeflate-dev libopenjp2-7-dev)" >&2
    exit 1
  fi
done

cargo build --release --offline --quiet

# Replace atomically: overwriting a .so in place would corrupt the mapping of
# any process that currently has it loaded.
cp target/release/libtessera_native.so tessera.node.tmp
mv -f tessera.node.tmp tessera.node
echo "native/build.sh: built $(pwd)/tessera.node"
