# syntax=docker/dockerfile:1
# Tranche in a container: one static-ish binary with the widget built in, run as a non-root user.
# Build:  docker build -t tranche .        Run with PostgreSQL: docker compose up (compose.yaml)
# The build runs the same command as a release from a checkout, `cargo xtask dist` (xtask/src/dist.rs);
# `cargo xtask test` lints this file with hadolint and checks that it still does (docs/deploy.md).

FROM rust:1.95-bookworm AS build
WORKDIR /src
# The wasm target and the wasm-bindgen CLI (crates.io) are installed by the xtask itself, as on any machine.
COPY . .
RUN cargo xtask dist

FROM debian:bookworm-slim AS runtime
# ca-certificates: outbound TLS (webhooks, QuickBooks, SMTP, PostgreSQL) verifies against the system roots.
# Not pinned to a version on purpose: root-store updates (removed CAs) must reach a rebuilt image.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /var/lib/tranche --create-home tranche
COPY --from=build /src/target/release/tranche /usr/local/bin/tranche
USER 10001:10001
WORKDIR /var/lib/tranche
# Listen on every interface inside the container; TLS is terminated by the proxy in front (docs/deploy.md).
# SQLite by default, in the volume; set TRANCHE_DATABASE_URL=postgres://... for PostgreSQL.
ENV TRANCHE_ADDR=0.0.0.0:8080 \
    TRANCHE_METRICS_ADDR=0.0.0.0:9464 \
    TRANCHE_DATABASE_URL=sqlite:///var/lib/tranche/tranche.db \
    TRANCHE_RECEIPTS_DIR=/var/lib/tranche/receipts \
    TRANCHE_LOG_FORMAT=json
VOLUME ["/var/lib/tranche"]
EXPOSE 8080 9464
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s CMD ["tranche", "health"]
ENTRYPOINT ["tranche"]
CMD ["serve"]
