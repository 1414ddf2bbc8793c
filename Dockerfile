# Build: a full Rust toolchain compiles a release binary (SQLite is bundled).
FROM rust:1-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src src
COPY templates templates
COPY static static
COPY migrations migrations
COPY bench bench
RUN cargo build --release --locked --bin hookscope

# Run: a slim Debian with only the binary, as a non-root user, data in a volume.
FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin hookscope \
    && mkdir -p /data && chown hookscope /data
COPY --from=build /src/target/release/hookscope /usr/local/bin/hookscope
USER hookscope
WORKDIR /data
VOLUME ["/data"]
ENV HOOKSCOPE_LISTEN=0.0.0.0:8080 \
    HOOKSCOPE_DB=/data/hookscope.db \
    RUST_LOG=info
EXPOSE 8080
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/hookscope"]
CMD ["serve"]
