# Shared by the scripts: install Debian packages that are missing.
# Usage: ensure_packages PKG...
ensure_packages() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing: ${missing[*]}" >&2
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# The PAM service the broker authenticates against.
ensure_pam_service() {
  [ -f /etc/pam.d/x2gobroker ] && return 0
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo install -m 0644 "$(dirname "${BASH_SOURCE[0]}")/../../cluster-config/pam.d/x2gobroker" /etc/pam.d/x2gobroker
}
