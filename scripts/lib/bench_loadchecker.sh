# `scripts/bench.sh loadchecker`, sourced by bench.sh (uses its DUR and
# scripts/lib/bench_common.sh):
# selectsession of new sessions in a load-checked profile, agent query
# mode SSH, ours and the reference (with its x2gobroker-loadchecker
# daemon) on the same site and servers. Two "servers" are sshd on
# 127.0.0.31 and 127.0.0.32, each in a mount namespace whose /proc/loadavg
# is a file (the second one idle, the first loaded), running Debian's Perl
# agent for a bench account; real users without sessions ask. It times
# sequential selectsessions (each needs the agent's listsessions and
# getservers over SSH, as the reference's does) and wrk -c4 for DUR
# seconds against each broker, checks every answer names the idle server,
# and prints the ratios. Needs root (sshd, accounts, mount namespaces).

[ "$(id -u)" = 0 ] || { echo "bench loadchecker: needs root (sshd, test accounts, mount namespaces)" >&2; exit 1; }
ensure_packages x2gobroker-agent x2gobroker-loadchecker x2goserver openssh-server
cargo build --release --quiet --bin x2gobroker
WORK=$(mktemp -d)
chmod 755 "$WORK"
PIDS=()
ACCOUNTS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  # userdel refuses while the account's last SSH session is still exiting.
  for a in "${ACCOUNTS[@]}"; do
    pkill -KILL -u "$a" 2>/dev/null || true
    for _ in $(seq 1 50); do
      id "$a" >/dev/null 2>&1 || break
      userdel "$a" 2>/dev/null || sleep 0.1
    done
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
N=100
NUSERS=8
AGENT_USER="lcbench$$"
useradd -M -s /bin/sh -G x2gobroker -d "$WORK/agent" "$AGENT_USER"
ACCOUNTS+=("$AGENT_USER")
usermod -p '*' "$AGENT_USER"
USERS=()
for i in $(seq 1 "$NUSERS"); do
  u="lcbu$$n$i"
  useradd -M -s /bin/false -d /nonexistent "$u"
  ACCOUNTS+=("$u")
  USERS+=("$u")
done

# The broker key (ours and the reference's home), authorised for the agent account.
mkdir -p "$WORK/home" "$WORK/agent/.ssh"
target/release/x2gobroker keygen --ssh --home "$WORK/home" >"$WORK/keygen.log" 2>&1 || { cat "$WORK/keygen.log" >&2; exit 1; }
cat "$WORK"/home/.ssh/id_*.pub >"$WORK/agent/.ssh/authorized_keys"
chown -R "$AGENT_USER:$AGENT_USER" "$WORK/agent"
chmod 700 "$WORK/agent/.ssh"
chmod 600 "$WORK/agent/.ssh/authorized_keys"

# The two servers: sshd on its own address, its agent seeing the load of a file.
mkdir -p /run/sshd
SSH_PORT=$(free_port)
LOADS=("9.00 9.00 9.00 1/100 1234" "0.05 0.05 0.05 1/100 1234")
for i in 1 2; do
  d="$WORK/s$i"
  mkdir -p "$d"
  echo "${LOADS[$((i - 1))]}" >"$d/loadavg"
  ssh-keygen -q -t ed25519 -N "" -f "$d/hostkey"
  printf 'ListenAddress 127.0.0.3%s\nHostKey %s\nPidFile %s\nPubkeyAuthentication yes\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nAllowUsers %s\nMaxStartups 100\nMaxSessions 100\n' \
    "$i" "$d/hostkey" "$d/sshd.pid" "$AGENT_USER" >"$d/sshd_config"
  unshare --mount -- sh -c 'mount --bind "$0" /proc/loadavg && exec /usr/sbin/sshd -D -e -f "$1" -p "$2"' \
    "$d/loadavg" "$d/sshd_config" "$SSH_PORT" >"$d/sshd.log" 2>&1 &
  PIDS+=($!)
  echo "[127.0.0.3$i]:$SSH_PORT $(cut -d' ' -f1,2 "$d/hostkey.pub")" >>"$WORK/home/.ssh/known_hosts"
done
IDLE="127.0.0.32:$SSH_PORT"

printf '[global]\nrequire-password = false\ndefault-agent-query-mode = SSH\nload-checker-intervals = 30\nmy-cookie-file = %s/none.authid\n[broker_inifile]\nenable = true\n' "$WORK" >"$WORK/x2gobroker.conf"
# A broker-* option: the reference uses its load checker only for such profiles.
printf '[pool]\nname=Pool\nhost=busy (127.0.0.31:%s), idle (127.0.0.32:%s)\ncommand=XFCE\nbroker-portscan-x2goservers = true\n' \
  "$SSH_PORT" "$SSH_PORT" >"$WORK/profiles.conf"

OURS_PORT=$(free_port)
X2GOBROKER_AGENT_USER=$AGENT_USER RUST_LOG=warn,x2gobroker::broker::loadchecker=info target/release/x2gobroker serve \
  --x2gobroker-conf "$WORK/x2gobroker.conf" --session-profiles "$WORK/profiles.conf" \
  --data-dir "$WORK/data" --http "127.0.0.1:$OURS_PORT" --broker-home "$WORK/home" >"$WORK/ours.log" 2>&1 &
PIDS+=($!)
# The reference runs as root and takes root's home: its own mount namespace with the bench home there.
# (Run in the background only: exec makes the background job's PID the daemon's.)
as_root_home() { exec unshare --mount -- sh -c 'mount --bind "$0" /root && exec /usr/bin/python3 "$@"' "$WORK/home" "$@"; }
export X2GOBROKER_AGENT_USER=$AGENT_USER X2GOBROKER_LOADCHECKER_SOCKET=$WORK/run/loadchecker.socket \
  X2GOBROKER_CONFIG=$WORK/x2gobroker.conf X2GOBROKER_SESSIONPROFILES=$WORK/profiles.conf LOGNAME=root
# (The daemon makes its socket's directory root's alone: a directory of its own.)
mkdir -p "$WORK/run"
as_root_home /usr/sbin/x2gobroker-loadchecker -i -s "$WORK/run/loadchecker.socket" >"$WORK/loadchecker.log" 2>&1 &
PIDS+=($!)
REF_PORT=$(free_port)
as_root_home /usr/bin/x2gobroker -M HTTP -C "$WORK/x2gobroker.conf" -b "127.0.0.1:$REF_PORT" >"$WORK/reference.log" 2>&1 &
PIDS+=($!)

# Ready: ours has checked both servers, the reference's daemon knows both factors.
ref_factors() {
  python3 - "$WORK/run/loadchecker.socket" <<'PY' 2>/dev/null
import socket, sys
s = socket.socket(socket.AF_UNIX); s.settimeout(2); s.connect(sys.argv[1])
s.sendall(b"inifile\rpool\r\n"); print(s.recv(1024).decode().strip().replace("\n", " "))
PY
}
ready=""
for _ in $(seq 1 300); do
  if grep -q 'load checker cycle done queries=2 failed=0' "$WORK/ours.log" \
    && ref_factors | grep -Eq '^(busy|idle):[0-9]+ (busy|idle):[0-9]+$' \
    && curl -s -o /dev/null "http://127.0.0.1:$REF_PORT/plain/"; then
    ready=yes
    break
  fi
  sleep 0.1
done
if [ -z "$ready" ]; then
  echo "bench loadchecker: the brokers did not get both load factors in 30 s" >&2
  for f in "$WORK"/*.log "$WORK"/s*/sshd.log; do echo "== $f" >&2; tail -n 5 "$f" >&2; done
  exit 1
fi

printf 'bench loadchecker: profile of 2 servers over SSH (sshd, Perl agent), load checker on; load %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
printf 'load factors: ours %s; the reference'"'"'s daemon %s\n' \
  "$(grep -o 'host=[a-z]* load_factor=[0-9]*' "$WORK/ours.log" | head -2 | tr '\n' ' ')" "$(ref_factors)"

# select PORT -> one "ms server" line per request, N sequential requests over the users.
select_times() {
  for i in $(seq 1 "$N"); do
    u=${USERS[$((i % NUSERS))]}
    curl -s -w ' %{time_total}\n' -d "task=selectsession&sid=pool&user=$u" "http://127.0.0.1:$1/plain/" \
      | awk '/^SERVER:/ { s = substr($1, 8) } /^ [0-9.]+$/ || /[0-9]\.[0-9]+$/ { t = $NF } END { printf "%.1f %s\n", t * 1000, s }'
  done
}
for who in ours reference; do
  port=$OURS_PORT
  [ "$who" = reference ] && port=$REF_PORT
  select_times "$port" >"$WORK/$who.times"
  wrong=$(awk -v idle="$IDLE" '$2 != idle' "$WORK/$who.times" | wc -l)
  printf '%-9s %s sequential selectsession: %s; answers not naming the idle server: %s\n' \
    "$who" "$N" "$(cut -d' ' -f1 "$WORK/$who.times" | stats)" "$wrong"
done
cat >"$WORK/select.lua" <<LUA
local users = { "$(IFS=,; echo "${USERS[*]}" | sed 's/,/", "/g')" }
local n = 0
request = function() n = n + 1; return wrk.format("POST", "/plain/", {["Content-Type"] = "application/x-www-form-urlencoded"}, "task=selectsession&sid=pool&user=" .. users[n % #users + 1]) end
LUA
declare -A RATE
for who in ours reference; do
  port=$OURS_PORT
  [ "$who" = reference ] && port=$REF_PORT
  WRK=$(wrk -t2 -c4 -d"${DUR}s" --timeout 20s --latency -s "$WORK/select.lua" "http://127.0.0.1:$port/plain/" 2>&1 || true)
  RATE[$who]=$(awk '/Requests\/sec/ {print $2}' <<<"$WRK")
  printf '%-9s wrk -t2 -c4 %ss: %s requests/s, p50 %s, p99 %s, non-2xx %s\n' "$who" "$DUR" "${RATE[$who]}" \
    "$(awk '$1=="50%" {print $2}' <<<"$WRK")" "$(awk '$1=="99%" {print $2}' <<<"$WRK")" \
    "$(awk '/Non-2xx/ {n = $NF} END {print n + 0}' <<<"$WRK")"
done
awk -v o="$(cut -d' ' -f1 "$WORK/ours.times" | p50)" -v r="$(cut -d' ' -f1 "$WORK/reference.times" | p50)" \
  -v ro="${RATE[ours]}" -v rr="${RATE[reference]}" \
  'BEGIN { printf "ratios (ours / reference): sequential p50 latency %.2f; wrk throughput %.2f\n", o / r, (rr > 0 ? ro / rr : 0) }'
