# Helpers every `scripts/bench.sh` mode uses, sourced by bench.sh.

# A free TCP port on 127.0.0.1.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Latencies in ms, one per line on standard input -> "p50 X ms, p99 Y ms, max Z ms".
stats() { sort -n | awk '{ v[NR] = $1 } END { printf "p50 %s ms, p99 %s ms, max %s ms", v[int(NR * 0.5) + (NR * 0.5 > int(NR * 0.5))], v[int(NR * 0.99) + (NR * 0.99 > int(NR * 0.99))], v[NR] }'; }

# Latencies, one per line on standard input -> their p50.
p50() { sort -n | awk '{ v[NR] = $1 } END { print v[int(NR * 0.5) + (NR * 0.5 > int(NR * 0.5))] }'; }
