# tugboat controller image: `docker build -t tugboat .`
# Built with the same cargo command as CI's release build; runs as a non-root user on distroless.

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY benches ./benches
# `tug demo` embeds the example stacks and its world at build time.
COPY manifests ./manifests
RUN cargo build --locked --release --bin tug

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/tug /usr/local/bin/tug
ENV PATH=/usr/local/bin:/usr/bin:/bin
# uid/gid of distroless's `nonroot` user; numeric so runtimes can verify it is not root.
USER 65532:65532
# Prometheus metrics, /healthz and /readyz (`tug controller --listen`).
EXPOSE 9464
# Docker's own health check (ECS uses the task definition's, deploy/tugboat.yaml: the same probe).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 CMD ["tug", "probe", "http://127.0.0.1:9464/healthz"]
ENTRYPOINT ["tug"]
CMD ["controller"]
