# tugboat controller image:
#   docker build --build-arg TUG_GIT_COMMIT="$(git rev-parse --short=12 HEAD)" -t tugboat .
# Built with the same commands as CI (scripts/test runs this stage's COPY and RUN lines), with
# the `image` profile (release, built for size); the binary is shipped stripped, its debug info
# split off into tug.debug in the build stage; runs as a non-root user on distroless.

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock build.rs ./
COPY src ./src
COPY benches ./benches
# `tug demo` embeds the example stacks and its world at build time.
COPY manifests ./manifests
# `tug version` names the commit: the build context has no .git.
ARG TUG_GIT_COMMIT=unknown
RUN cargo build --locked --profile image --bin tug \
 && out="${CARGO_TARGET_DIR:-target}/image" \
 && objcopy --only-keep-debug "$out/tug" "$out/tug.debug" \
 && objcopy --strip-debug --strip-unneeded --add-gnu-debuglink="$out/tug.debug" "$out/tug"

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/image/tug /usr/local/bin/tug
ENV PATH=/usr/local/bin:/usr/bin:/bin
# uid/gid of distroless's `nonroot` user; numeric so runtimes can verify it is not root.
USER 65532:65532
# Prometheus metrics, /healthz and /readyz (`tug controller --listen`).
EXPOSE 9464
# Docker's own health check (ECS uses the task definition's, deploy/tugboat.yaml: the same probe).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 CMD ["tug", "probe", "http://127.0.0.1:9464/healthz"]
ENTRYPOINT ["tug"]
CMD ["controller"]
