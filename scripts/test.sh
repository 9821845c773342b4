#!/usr/bin/env bash
# Install what the tests need (when missing) and run every test: unit and
# property tests, integration tests with real processes, PAM and TLS, and the
# conformance tests against the reference broker and Python X2Go.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/deps.sh
# Build: libpam. Conformance: the reference broker and Python X2Go. Bench: wrk.
ensure_packages build-essential libpam0g-dev pkg-config protobuf-compiler x2gobroker-daemon python3-x2go x2goserver wrk curl iproute2 procps
ensure_pam_service
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --lib --bins --tests "$@" 2>&1 | tee "$log" || status=$?
# One closing line for the whole run: the sum over all test binaries.
awk '/^test result:/ { p += $4; f += $6 } END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
exit $status
