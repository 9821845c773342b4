#!/usr/bin/env bash
# Install what the tests need (when missing) and run every test: unit and
# property tests, integration tests with real processes, PAM and TLS, and the
# conformance tests against the reference broker and Python X2Go.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/deps.sh
# Build: libpam. Conformance: the reference broker and Python X2Go. Bench: wrk.
ensure_packages build-essential libpam0g-dev pkg-config x2gobroker-daemon python3-x2go x2goserver wrk curl
ensure_pam_service
cargo test --all-targets "$@"
