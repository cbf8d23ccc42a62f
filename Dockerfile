# Multi-stage build: compile in the Rust image, run in a slim Debian with the database on a volume.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY data ./data
COPY web ./web
COPY benches ./benches
COPY config.toml ./
RUN cargo build --release --locked

FROM debian:bookworm-slim
RUN useradd --system --create-home --home-dir /data finlearn
COPY --from=build /src/target/release/finlearn /usr/local/bin/finlearn
USER finlearn
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8000
ENV FINLEARN_DATA=/data/finlearn.duckdb
ENTRYPOINT ["finlearn"]
CMD ["serve", "--listen", "0.0.0.0:8000"]
