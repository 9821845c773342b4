# `scripts/bench.sh agents`, sourced by bench.sh once its three nodes (with
# agent gateways) agree on a leader: uses its WORK, DUR, NHTTP, NAGENT,
# NPID, PIDS, L, F, leader and run. Starts the simulator (5,000 servers,
# 50,000 sessions), waits until every node sees all of them, measures the
# nodes and the simulator for DUR seconds, then selectsession with the
# simulator running and after it stopped. BENCH_LOGS=DIR keeps the logs.

SERVERS=5000
SESSIONS=50000
# BENCH_TRANSPORT=quic|mixed runs the servers over QUIC, or half and half.
TRANSPORT=${BENCH_TRANSPORT:-grpc}
AGENT=target/release/x2gobroker-agent
TICK=$(getconf CLK_TCK)
BROKERS="127.0.0.1:${NAGENT[1]},127.0.0.1:${NAGENT[2]},127.0.0.1:${NAGENT[3]}"

# "servers_up/sessions" of each node's /status/agents, space-separated.
agent_counts() {
  python3 - "${NHTTP[1]}" "${NHTTP[2]}" "${NHTTP[3]}" <<'PY'
import json, sys, urllib.request
out = []
for port in sys.argv[1:]:
    try:
        d = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/status/agents", timeout=2))
        out.append(f"{d['servers_up']}/{d['sessions']}")
    except Exception:
        out.append("none")
print(" ".join(out))
PY
}
# "count p50 p99 max connected" of node $1: its visible_ms (n/a where the
# node has no such field) and the agents connected to it.
visible() {
  curl -s --max-time 2 "http://127.0.0.1:${NHTTP[$1]}/status/agents" | python3 -c '
import json, sys
d = json.load(sys.stdin)
v = d.get("visible_ms") or {}
print(" ".join(str(v.get(k, "n/a")) for k in ("count", "p50", "p99", "max")), d.get("connected_here", "n/a"))
' 2>/dev/null || echo "n/a n/a n/a n/a n/a"
}
# utime + stime of process $1, in clock ticks.
cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
rss_mb() { awk '/VmHWM/ {printf "%.0f", $2 / 1024}' "/proc/$1/status"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "inf" }'; }

# The Raft term after each phase: elections under the load show up here.
TERMS="start $(status_field "$L" term)"
term_now() { local l; l=$(leader); TERMS+=", $1 $( [ "$l" = none ] && echo none || status_field "$l" term)"; }
printf 'bench agents: three nodes (leader %s), %s simulated X2Go servers with %s sessions over %s (load every 2 s, a change every 10 s per server), %ss per run; load %s\n' \
  "$L" "$SERVERS" "$SESSIONS" "$TRANSPORT" "$DUR" "$(cut -d' ' -f1-3 /proc/loadavg)"
T0=$(date +%s%N)
$AGENT simulate --brokers "$BROKERS" --ca "$WORK/pki/ca.pem" --ca-key "$WORK/pki/ca-key.pem" \
  --servers "$SERVERS" --sessions "$SESSIONS" --load-every-ms 2000 --change-every-ms 10000 --transport "$TRANSPORT" \
  --stats-json "$WORK/sim.json" >"$WORK/sim.out" 2>"$WORK/sim.log" &
SIM_PID=$!; PIDS+=($SIM_PID)
WANT="$SERVERS/$SESSIONS $SERVERS/$SESSIONS $SERVERS/$SESSIONS"
SEEN=""
DEADLINE=$(( $(date +%s) + 300 ))
while [ "$(date +%s)" -lt "$DEADLINE" ]; do
  SEEN=$(agent_counts)
  [ "$SEEN" = "$WANT" ] && break
  kill -0 "$SIM_PID" 2>/dev/null || { echo "bench: the simulator died:" >&2; tail -5 "$WORK/sim.log" >&2; exit 1; }
  for n in 1 2 3; do
    kill -0 "${NPID[$n]}" 2>/dev/null || { echo "bench: node $n died:" >&2; tail -5 "$WORK/node$n.log" >&2; exit 1; }
  done
  sleep 0.5
done
if [ "$SEEN" != "$WANT" ]; then
  echo "bench: after 300 s the nodes see (up/sessions) $SEEN, not $WANT" >&2
  tail -3 "$WORK/sim.log" >&2
  for n in 1 2 3; do tail -2 "$WORK/node$n.log" | cut -c1-300 >&2; done
  [ -n "${BENCH_LOGS:-}" ] && mkdir -p "$BENCH_LOGS" && cp "$WORK"/*.log "$BENCH_LOGS"/
  exit 1
fi
RAMP_S=$(awk -v ns="$(( $(date +%s%N) - T0 ))" 'BEGIN { printf "%.1f", ns / 1e9 }')
printf 'every server up and every session visible on every node after %s s\n' "$RAMP_S"
term_now "all visible"
sleep 5  # past the full lists of the ramp

# The measured period: CPU of the nodes and the simulator, then each node's last 30 s of visibility.
PROCS=("${NPID[1]}" "${NPID[2]}" "${NPID[3]}" "$SIM_PID")
declare -A C0 C1
for p in "${PROCS[@]}"; do C0[$p]=$(cpu_ticks "$p"); done
M0=$(date +%s%N); LOAD0=$(cut -d' ' -f1-3 /proc/loadavg); LM=$(leader)
sleep "$DUR"
for p in "${PROCS[@]}"; do C1[$p]=$(cpu_ticks "$p"); done
M1=$(date +%s%N); LOAD1=$(cut -d' ' -f1-3 /proc/loadavg); LM1=$(leader)
# Peak RSS with the agents only (ramp and measured period), before wrk adds users.
declare -A AGENT_RSS
for n in 1 2 3; do AGENT_RSS[$n]=$(rss_mb "${NPID[$n]}"); done
term_now "measured"
cpu_pct() { awk -v a="${C0[$1]}" -v b="${C1[$1]}" -v t="$TICK" -v ns="$((M1 - M0))" 'BEGIN { printf "%.0f", (b - a) / t / (ns / 1e9) * 100 }'; }
declare -A VIS
for n in 1 2 3; do VIS[$n]=$(visible "$n"); done
SIM_LINE=$(grep '^simulate ' "$WORK/sim.log" | tail -1)
printf 'measured %ss; load average %s at the start, %s at the end\n' "$DUR" "$LOAD0" "$LOAD1"
printf 'simulator: %s\n' "$SIM_LINE"

# selectsession with the simulator running, then without it.
L=$(leader); F=$(( L % 3 + 1 ))
read -r BL_RPS BL_P99 BL_ERR < <(run agents-select-leader "${NHTTP[$L]}" "$WORK/select.lua")
read -r BF_RPS BF_P99 BF_ERR < <(run agents-select-follower "${NHTTP[$F]}" "$WORK/select.lua")
SIM_RSS=$(rss_mb "$SIM_PID")
term_now "wrk with the agents"
kill -TERM "$SIM_PID"; wait "$SIM_PID" 2>/dev/null || true
SIM_RECONNECTS=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["reconnects"])' "$WORK/sim.json" 2>/dev/null || echo "?")
sleep 12  # the silent servers are marked down once (10 s timeout); then the cluster is idle
L=$(leader); F=$(( L % 3 + 1 ))
read -r IL_RPS IL_P99 IL_ERR < <(run idle-select-leader "${NHTTP[$L]}" "$WORK/select.lua")
read -r IF_RPS IF_P99 IF_ERR < <(run idle-select-follower "${NHTTP[$F]}" "$WORK/select.lua")
term_now "idle wrk"

printf '\n| node | role | agents connected | report-to-visible p50 ms | p99 ms | max ms | reports (30 s) | CPU %% | peak RSS MB, agents | peak RSS MB, whole run |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n'
for n in 1 2 3; do
  read -r count p50 p99 max here <<<"${VIS[$n]}"
  role=follower; [ "$n" = "$LM" ] && role=leader; [ "$LM1" != "$LM" ] && role="$role (leader changed to $LM1)"
  printf '| node %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$n" "$role" "$here" "$p50" "$p99" "$max" "$count" "$(cpu_pct "${NPID[$n]}")" "${AGENT_RSS[$n]}" "$(rss_mb "${NPID[$n]}")"
done
printf '| simulator (%s servers, %s) | | | | | | | %s | | %s |\n' "$SERVERS" "$TRANSPORT" "$(cpu_pct "$SIM_PID")" "$SIM_RSS"
printf '\n| selectsession | with the agents: requests/s | p99 ms | non-2xx | idle: requests/s | p99 ms | non-2xx | with / idle |\n|---|---:|---:|---:|---:|---:|---:|---:|\n'
printf '| via the leader | %s | %s | %s | %s | %s | %s | %s |\n' "$BL_RPS" "$BL_P99" "$BL_ERR" "$IL_RPS" "$IL_P99" "$IL_ERR" "$(ratio "$BL_RPS" "$IL_RPS")"
printf '| via a follower | %s | %s | %s | %s | %s | %s | %s |\n' "$BF_RPS" "$BF_P99" "$BF_ERR" "$IF_RPS" "$IF_P99" "$IF_ERR" "$(ratio "$BF_RPS" "$IF_RPS")"
printf '\nsimulator reconnects during the whole run: %s; Raft term after each phase: %s\n' "$SIM_RECONNECTS" "$TERMS"
case "${VIS[1]}" in "n/a n/a n/a n/a"*) printf 'note: these nodes have no visible_ms in /status/agents; latency columns are n/a\n' ;; esac
printf 'freshness for comparison (reference x2gobroker, from its documented defaults): the load of each X2Go\n'
printf 'server is polled by x2gobroker-loadchecker every 300 s (load-checker-intervals = 300), so it is\n'
printf 'up to 300 s old; sessions are listed by one SSH login to the X2Go server per listing (x2gobroker-agent\n'
printf 'over SSH, per listsessions/selectsession), nothing is pushed. Ours: every report is visible on every\n'
printf 'node within the p99 above; load every 2 s, session changes as they happen.\n'
for n in 1 2 3; do
  printf 'node %s log: %s warnings, %s errors\n' "$n" "$(grep -c ' WARN ' "$WORK/node$n.log" || true)" "$(grep -c ' ERROR ' "$WORK/node$n.log" || true)"
done
# BENCH_LOGS=DIR keeps the nodes' and the simulator's logs.
if [ -n "${BENCH_LOGS:-}" ]; then mkdir -p "$BENCH_LOGS" && cp "$WORK"/*.log "$WORK"/wrk-*.txt "$BENCH_LOGS"/; fi
