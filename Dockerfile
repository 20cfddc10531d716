# mdhost in a container: the service and every provider component, run as a non-root user.
#
#   docker build -t mdhost .
#   docker run -p 9464:9464 -v mdhost-data:/var/lib/mdhost mdhost
#
# The image's configuration is the repository's plugins.toml (the keyless default), with
# the admin API on every interface (`--admin-addr`) so `-p 9464:9464` can publish it: the
# container's network is the boundary. Mount your own over /etc/mdhost/plugins.toml.
# Secrets come from the environment (`docker run -e POLYGON_API_KEY=…`).

FROM rust:1-bookworm AS build
RUN rustup target add wasm32-wasip2
WORKDIR /src
COPY . .
# The components (plugins/*.wasm), then the service without the test harness's extras.
RUN cargo xtask plugins \
    && cargo build --release -p mdhost --no-default-features

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/mdhost --create-home mdhost
COPY --from=build /src/target/release/mdhost /usr/local/bin/mdhost
COPY --from=build /src/plugins/*.wasm /etc/mdhost/plugins/
COPY plugins.toml /etc/mdhost/plugins.toml
# State: the SQLite store (data/mdhost.db, unless MDHOST_DATABASE_URL names Postgres), the
# spool and the compiled-component cache, all under the working directory.
ENV HOME=/var/lib/mdhost MDHOST_CACHE_DIR=/var/lib/mdhost/cache
WORKDIR /var/lib/mdhost
VOLUME /var/lib/mdhost
USER mdhost
EXPOSE 9464
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
    CMD curl -fsS http://127.0.0.1:9464/healthz || exit 1
ENTRYPOINT ["mdhost"]
CMD ["run", "--config", "/etc/mdhost/plugins.toml", "--admin-addr", "0.0.0.0:9464"]
