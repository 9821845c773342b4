# Multi-stage build of the x2gobroker binary on Debian bookworm.
FROM rust:1-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends libpam0g-dev protobuf-compiler && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock build.rs ./
COPY proto ./proto
COPY src ./src
COPY examples ./examples
RUN cargo build --release --bin x2gobroker

FROM debian:bookworm-slim
# The daemon runs as the unprivileged user x2gobroker. For PAM password
# checks it is in the group shadow: pam_unix then reads /etc/shadow itself
# (its helper unix_chkpwd checks only the caller's own password when the
# caller is not root). The data directory (cookies, the Raft log) is 0700.
RUN apt-get update && apt-get install -y --no-install-recommends libpam0g libpam-modules ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home-dir /var/lib/x2gobroker --create-home --groups shadow x2gobroker \
    && install -d -m 0700 -o x2gobroker -g x2gobroker /var/lib/x2gobroker-rs
COPY --from=build /src/target/release/x2gobroker /usr/bin/x2gobroker
COPY cluster-config/pam.d/x2gobroker /etc/pam.d/x2gobroker
COPY cluster-config/single/x2gobroker.conf /etc/x2go/x2gobroker.conf
COPY cluster-config/single/x2gobroker-sessionprofiles.conf /etc/x2go/broker/x2gobroker-sessionprofiles.conf
VOLUME /var/lib/x2gobroker-rs
# An unprivileged port: publish it as 443 (`docker run -p 443:8443 ...`).
EXPOSE 8443
USER x2gobroker
# Mount the site's certificate and key at /etc/x2go/broker/ssl/, readable by x2gobroker.
ENTRYPOINT ["/usr/bin/x2gobroker", "serve", "--data-dir", "/var/lib/x2gobroker-rs", \
  "--session-profiles", "/etc/x2go/broker/x2gobroker-sessionprofiles.conf", \
  "--https", "0.0.0.0:8443", "--tls-cert", "/etc/x2go/broker/ssl/broker.crt", "--tls-key", "/etc/x2go/broker/ssl/broker.key"]
