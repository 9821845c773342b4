#!/usr/bin/env bash
# Install what the tests need (when missing) and run every test: unit,
# property and doc tests, integration tests with real processes, PAM and
# TLS, and the conformance tests against the reference broker and Python
# X2Go.
#
# Tests that need something a machine may lack are #[ignore = "needs ..."]:
# plain `cargo test` reports them as ignored. This script runs them when
# their reason names only what is present here (root, the reference broker,
# python3-x2go, network namespaces, dpkg-deb, chromium) and counts the others as skipped. The
# closing line sums over all test binaries and the doctests:
#   tests: N passed, N failed, N skipped
#
# Usage: scripts/test.sh [CARGO-TEST-OPTIONS] [-- TEST-BINARY-OPTIONS]
# Without cargo options: --lib --bins --tests, then --doc.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/deps.sh
# Build: libpam. Conformance: the reference broker (with its agent and load checker daemon) and Python X2Go. (wrk is the benchmark's: scripts/bench.sh.)
# Packages (tests/packages.rs): dpkg-dev (dpkg-shlibdeps), lintian, man-db. The dashboard's browser test: chromium, chromium-driver.
ensure_packages build-essential libpam0g-dev pkg-config protobuf-compiler x2gobroker-daemon x2gobroker-agent x2gobroker-loadchecker python3-x2go x2goserver sudo openssh-server openssh-client prometheus curl iproute2 procps dpkg-dev binutils lintian man-db groff-base chromium chromium-driver
ensure_pam_service

cargo_args=()
test_args=()
while [ $# -gt 0 ]; do
  if [ "$1" = "--" ]; then shift; test_args=("$@"); break; fi
  cargo_args+=("$1"); shift
done

# What this machine has, for the reasons of ignored tests.
have_root=""; have_reference=""; have_python_x2go=""; have_netns=""; have_dpkg_deb=""; have_chromium=""
[ "$(id -u)" -eq 0 ] && have_root=1
[ -x /usr/bin/x2gobroker ] && /usr/bin/python3 -c 'import x2gobroker' 2>/dev/null && have_reference=1
/usr/bin/python3 -c 'import x2go.backends.profiles.httpbroker' 2>/dev/null && have_python_x2go=1
command -v dpkg-deb >/dev/null && command -v dpkg-shlibdeps >/dev/null && command -v lintian >/dev/null && have_dpkg_deb=1
[ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ] && have_chromium=1
if [ -n "$have_root" ] && ip netns add "x2gotest$$" 2>/dev/null; then
  ip netns del "x2gotest$$" && have_netns=1
fi

# Whether every need an ignore reason names is present (an unknown reason: no).
runnable() {
  local reason=$1 known=""
  if [[ $reason == *"reference broker"* ]]; then known=1; [ -n "$have_reference" ] || return 1; fi
  if [[ $reason =~ (^|[^[:alnum:]])root([^[:alnum:]]|$) ]]; then known=1; [ -n "$have_root" ] || return 1; fi
  if [[ $reason == *"python3-x2go"* ]]; then known=1; [ -n "$have_python_x2go" ] || return 1; fi
  if [[ $reason == *"ip netns"* ]]; then known=1; [ -n "$have_netns" ] || return 1; fi
  if [[ $reason == *"dpkg-deb"* ]]; then known=1; [ -n "$have_dpkg_deb" ] || return 1; fi
  if [[ $reason == *"chromium"* ]]; then known=1; [ -n "$have_chromium" ] || return 1; fi
  [ -n "$known" ]
}

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
status=0

# Pass 1: everything that is not ignored.
if [ ${#cargo_args[@]} -eq 0 ]; then
  cargo test --no-fail-fast --lib --bins --tests -- "${test_args[@]}" 2>&1 | tee "$logs/first" || status=$?
  cargo test --no-fail-fast --doc -- "${test_args[@]}" 2>&1 | tee -a "$logs/first" || status=$?
else
  cargo test --no-fail-fast "${cargo_args[@]}" -- "${test_args[@]}" 2>&1 | tee "$logs/first" || status=$?
fi

# The ignored tests, one line each: target option, test name, reason.
awk '
  /^ *Running unittests src\/lib\.rs/ { target = "--lib"; next }
  /^ *Running unittests src\/bin\//   { n = $3; sub(/^src\/bin\//, "", n); sub(/\.rs$/, "", n); target = "--bin " n; next }
  /^ *Running tests\//                { n = $2; sub(/^tests\//, "", n); sub(/(\/main)?\.rs$/, "", n); target = "--test " n; next }
  /^ *Doc-tests /                     { target = "--doc"; next }
  /^test .* \.\.\. ignored/ {
    line = substr($0, 6)
    i = index(line, " ... ignored")
    name = substr(line, 1, i - 1)
    reason = substr(line, i + length(" ... ignored"))
    sub(/^, /, "", reason)
    printf "%s\t%s\t%s\n", target, name, reason
  }
' "$logs/first" >"$logs/ignored"

# Pass 2: the ignored tests whose needs are met, per test binary (doctests
# marked `ignore` are not runnable code and stay skipped).
: >"$logs/second"
: >"$logs/skipped"
declare -A names=()
while IFS=$'\t' read -r target name reason; do
  if [ "$target" != "--doc" ] && runnable "$reason"; then
    names[$target]+="$name"$'\n'
  else
    printf '%s\n' "${reason:-no reason given}" >>"$logs/skipped"
  fi
done <"$logs/ignored"
for target in "${!names[@]}"; do
  mapfile -t selected < <(printf '%s' "${names[$target]}")
  echo "running ${#selected[@]} ignored test(s) of $target whose needs are met here"
  # shellcheck disable=SC2086 # "$target" is an option and its value
  cargo test --no-fail-fast $target -- --ignored --exact "${selected[@]}" "${test_args[@]}" 2>&1 | tee -a "$logs/second" || status=$?
done

# One closing line for the whole run: the sum over all test binaries.
if [ -s "$logs/skipped" ]; then
  echo "skipped, by reason:"
  sort "$logs/skipped" | uniq -c | sed 's/^/  /'
fi
awk '
  /^test result:/ { if (FILENAME ~ /second$/) { p2 += $4; f2 += $6 } else { p += $4; f += $6; i += $8 } }
  END { printf "tests: %d passed, %d failed, %d skipped\n", p + p2, f + f2, i - p2 - f2 }
' "$logs/first" "$logs/second"
exit $status
