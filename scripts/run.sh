#!/usr/bin/env bash
# Build and start one broker node on its embedded default: the bundled
# example configuration (cluster-config/single/), state in ./data, plain
# HTTP on 127.0.0.1:8080. Extra arguments go to `x2gobroker serve`. Builds
# every binary (x2gobroker, x2gobrokerctl) into target/release/.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/deps.sh
ensure_packages build-essential libpam0g-dev pkg-config protobuf-compiler
ensure_pam_service
cargo build --release --bins
exec "${CARGO_TARGET_DIR:-target}/release/x2gobroker" serve \
  --x2gobroker-conf cluster-config/single/x2gobroker.conf \
  --session-profiles cluster-config/single/x2gobroker-sessionprofiles.conf \
  --data-dir ./data \
  --http 127.0.0.1:8080 "$@"
