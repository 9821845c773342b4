#!/usr/bin/env bash
# Seed the fuzz corpora (fuzz/corpus/TARGET, not committed) from real files:
# the shipped node TOML files and configuration files, and example requests
# of the public gRPC API encoded by protoc from proto/broker.proto.
# Usage: fuzz/seed.sh   (from anywhere; needs protoc)
set -euo pipefail
cd "$(dirname "$0")/.."
corpus=fuzz/corpus

mkdir -p "$corpus/node_toml" "$corpus/grpc_request" "$corpus/ini_parser"
cp cluster-config/local-3/node*.toml "$corpus/node_toml/"
# Every key a node file may have (the shipped files leave some out).
cat > "$corpus/node_toml/every-key.toml" <<'TOML'
id = 2
data_dir = "/var/lib/x2gobroker"
raft = "[::1]:19082"
http = ["127.0.0.1:18082"]
https = ["127.0.0.1:18443"]
grpc = "127.0.0.1:50052"
tls_cert = "/etc/x2gobroker/https.pem"
tls_key = "/etc/x2gobroker/https-key.pem"
x2gobroker_conf = "/etc/x2go/x2gobroker.conf"
session_profiles = "/etc/x2go/broker/x2gobroker-sessionprofiles.conf"
cluster_ca = "pki/ca.pem"
node_cert = "pki/node2.pem"
node_key = "pki/node2-key.pem"

[timing]
heartbeat_ms = 40
election_min_ms = 200
election_max_ms = 400
snapshot_every = 10000
deadline_ms = 3000

[[members]]
id = 1
raft = "127.0.0.1:19081"
http = "127.0.0.1:18081"

[[members]]
id = 2
raft = "[::1]:19082"
http = "127.0.0.1:18082"
TOML

for f in cluster-config/*/*.conf /etc/x2go/x2gobroker.conf /etc/x2go/broker/x2gobroker-sessionprofiles.conf; do
  [ -f "$f" ] && cp "$f" "$corpus/ini_parser/$(echo "$f" | tr / _)"
done

# name, message type, text format of one request
encode() {
  printf '%s\n' "$3" | protoc --proto_path=proto --encode="x2gobroker.broker.v1.$2" proto/broker.proto \
    > "$corpus/grpc_request/$1"
}
long=$(printf 'u%.0s' $(seq 257))
encode list-profiles ListProfilesRequest 'credentials { user: "alice" password: "secret" }'
encode list-profiles-cookie ListProfilesRequest 'credentials { user: "alice" authid: "6f2c1d3e-54b0-4b1a-9d2e-0c8f7a1b2c3d" }'
encode list-sessions ListSessionsRequest 'credentials { user: "bob" password: "pw" }'
encode select-session SelectSessionRequest 'credentials { user: "alice" password: "secret" } profile_id: "pool-a" login: "alice2"'
encode select-session-cookie SelectSessionRequest 'credentials { user: "alice" authid: "cookie" } profile_id: "pool-b"'
encode select-session-long-user SelectSessionRequest "credentials { user: \"$long\" } profile_id: \"p\""
encode cluster-status ClusterStatusRequest ''
for d in "$corpus"/*; do echo "$d: $(ls "$d" | wc -l) files"; done
