#!/usr/bin/env bash
# Build the Debian packages with dpkg-deb (docs/packaging.md says why not
# cargo-deb or debhelper):
#   x2gobroker-rs        x2gobroker, x2gobrokerctl, x2gobroker-rs.service,
#                        /etc/default/x2gobroker-rs, example configuration
#   x2gobroker-rs-agent  x2gobroker-agent, x2gobroker-agent.service
# both with their manual pages (x2gobroker docs) and bash, zsh and fish
# completions, Depends from dpkg-shlibdeps.
#
# Usage: scripts/build-deb.sh [--bin-dir DIR] [--out DIR]
#   --bin-dir DIR  package the binaries found in DIR (e.g. target/debug in
#                  tests) instead of building them with `cargo build --release`
#   --out DIR      where the .deb files go [default: target/debian]
# Environment: DEB_COMPRESSION (dpkg-deb -Z: xz (default), gzip, zstd, none),
# DEBFULLNAME and DEBEMAIL (the Maintainer field), SOURCE_DATE_EPOCH.
# Prints the paths of the two packages, one a line.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/deps.sh

bin_dir=""
out="${CARGO_TARGET_DIR:-target}/debian"
while [ $# -gt 0 ]; do
  case $1 in
    --bin-dir) bin_dir=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build-deb.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

ensure_packages dpkg-dev binutils
if [ -z "$bin_dir" ]; then
  ensure_packages build-essential libpam0g-dev pkg-config protobuf-compiler
  cargo build --release --bins >&2
  bin_dir="${CARGO_TARGET_DIR:-target}/release"
fi
for b in x2gobroker x2gobrokerctl x2gobroker-agent; do
  [ -x "$bin_dir/$b" ] || { echo "build-deb.sh: $bin_dir/$b missing" >&2; exit 1; }
done

upstream=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
version="$upstream-1"
arch=$(dpkg --print-architecture)
maintainer="${DEBFULLNAME:-x2gobroker-rs maintainers} <${DEBEMAIL:-maintainers@x2gobroker-rs.invalid}>"
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
epoch=$SOURCE_DATE_EPOCH
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)

umask 022
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$bin_dir/x2gobroker" docs --out "$work/generated" >/dev/null
mkdir -p "$out"

# put ROOT SOURCE DEST MODE
put() { install -D -m "$4" "$2" "$1/$3"; }
# binary ROOT NAME: stripped, in /usr/bin
binary() {
  put "$1" "$bin_dir/$2" "usr/bin/$2" 0755
  strip --strip-unneeded --remove-section=.comment --remove-section=.note "$1/usr/bin/$2"
}
# manual_and_completions ROOT NAME
manual_and_completions() {
  local g=$work/generated
  mkdir -p "$1/usr/share/man/man8"
  gzip -9n <"$g/man8/$2.8" >"$1/usr/share/man/man8/$2.8.gz"
  chmod 0644 "$1/usr/share/man/man8/$2.8.gz"
  put "$1" "$g/completions/bash/$2" "usr/share/bash-completion/completions/$2" 0644
  put "$1" "$g/completions/zsh/_$2" "usr/share/zsh/vendor-completions/_$2" 0644
  put "$1" "$g/completions/fish/$2.fish" "usr/share/fish/vendor_completions.d/$2.fish" 0644
}
# doc ROOT PACKAGE: copyright and changelog
doc() {
  local d=usr/share/doc/$2
  put "$1" packaging/debian/copyright "$d/copyright" 0644
  {
    printf '%s (%s) unstable; urgency=medium\n\n' "$2" "$version"
    printf '  * Built from commit %s by scripts/build-deb.sh.\n\n' "$commit"
    printf ' -- %s  %s\n' "$maintainer" "$(LC_ALL=C date -u -R -d "@$epoch")"
  } | gzip -9n >"$1/$d/changelog.Debian.gz"
  chmod 0644 "$1/$d/changelog.Debian.gz"
}
# depends PACKAGE BINARY...: the shared libraries' packages, from dpkg-shlibdeps
depends() {
  local dir=$work/shlibs-$1
  mkdir -p "$dir/debian"
  printf 'Source: x2gobroker-rs\n\nPackage: %s\nArchitecture: any\n' "$1" >"$dir/debian/control"
  shift
  (cd "$dir" && dpkg-shlibdeps -O "$@" 2>/dev/null) | sed -n 's/^shlibs:Depends=//p'
}
# control ROOT PACKAGE DEPENDS EXTRA-FIELDS DESCRIPTION
control() {
  local size
  size=$(du -sk --exclude=DEBIAN "$1" | cut -f1)
  mkdir -p "$1/DEBIAN"
  {
    printf 'Package: %s\nVersion: %s\nArchitecture: %s\nMaintainer: %s\n' "$2" "$version" "$arch" "$maintainer"
    printf 'Installed-Size: %s\nDepends: %s\n%sSection: net\nPriority: optional\n' "$size" "$3" "$4"
    printf 'Description: %s\n' "$5"
  } >"$1/DEBIAN/control"
  (cd "$1" && find . -path ./DEBIAN -prune -o -type f -printf '%P\n' | LC_ALL=C sort | xargs -r md5sum) >"$1/DEBIAN/md5sums"
  chmod 0644 "$1/DEBIAN/control" "$1/DEBIAN/md5sums"
}
# scripts ROOT PACKAGE: the maintainer scripts
scripts() {
  local s
  for s in packaging/debian/"$2"/*; do put "$1" "$s" "DEBIAN/$(basename "$s")" 0755; done
}
build() {
  local deb="$out/${2}_${version}_${arch}.deb"
  find "$1" -type d -exec chmod 0755 {} +
  dpkg-deb --root-owner-group -Z"${DEB_COMPRESSION:-xz}" --build "$1" "$deb" >/dev/null
  echo "$deb"
}

# x2gobroker-rs: the broker node.
node=$work/x2gobroker-rs
binary "$node" x2gobroker
binary "$node" x2gobrokerctl
put "$node" packaging/systemd/x2gobroker-rs.service lib/systemd/system/x2gobroker-rs.service 0644
put "$node" packaging/debian/x2gobroker-rs.default etc/default/x2gobroker-rs 0644
put "$node" cluster-config/single/x2gobroker.conf usr/share/x2gobroker-rs/examples/x2gobroker.conf 0644
put "$node" cluster-config/single/x2gobroker-sessionprofiles.conf usr/share/x2gobroker-rs/examples/x2gobroker-sessionprofiles.conf 0644
put "$node" cluster-config/pam.d/x2gobroker usr/share/x2gobroker-rs/pam.d/x2gobroker 0644
put "$node" docs/packaging.md usr/share/doc/x2gobroker-rs/README.Debian 0644
manual_and_completions "$node" x2gobroker
manual_and_completions "$node" x2gobrokerctl
doc "$node" x2gobroker-rs
scripts "$node" x2gobroker-rs
control "$node" x2gobroker-rs \
  "$(depends x2gobroker-rs "$node/usr/bin/x2gobroker" "$node/usr/bin/x2gobrokerctl"), adduser" \
  "Suggests: x2gobroker-rs-agent
" \
  "highly available X2Go session broker (Rust)
 A drop-in successor of the X2Go Session Broker: it reads the same
 x2gobroker.conf and session profiles and answers X2Go Client and Python
 X2Go as the reference broker does. One node with its embedded store, or
 three or five nodes replicating their state with Raft.
 .
 While installed, it diverts the reference's /usr/bin/x2gobroker to
 /usr/bin/x2gobroker.reference; removing it restores that file."
echo /etc/default/x2gobroker-rs >"$node/DEBIAN/conffiles"
chmod 0644 "$node/DEBIAN/conffiles"

# x2gobroker-rs-agent: the agent on each X2Go server.
agent=$work/x2gobroker-rs-agent
binary "$agent" x2gobroker-agent
put "$agent" packaging/systemd/x2gobroker-agent.service lib/systemd/system/x2gobroker-agent.service 0644
put "$agent" packaging/debian/agent.toml.example usr/share/doc/x2gobroker-rs-agent/examples/agent.toml 0644
manual_and_completions "$agent" x2gobroker-agent
doc "$agent" x2gobroker-rs-agent
scripts "$agent" x2gobroker-rs-agent
control "$agent" x2gobroker-rs-agent \
  "$(depends x2gobroker-rs-agent "$agent/usr/bin/x2gobroker-agent")" \
  "Recommends: x2goserver
" \
  "X2Go server agent for x2gobroker-rs
 Streams an X2Go server's sessions and load to the x2gobroker-rs cluster
 over mutually authenticated gRPC or QUIC, and carries out the brokers'
 suspend, terminate and autologin-key commands as the session's user."

build "$node" x2gobroker-rs
build "$agent" x2gobroker-rs-agent
