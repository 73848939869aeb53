# syntax=docker/dockerfile:1
# clnd in a container: a static binary (modernc SQLite is pure Go, so no
# cgo) on distroless, as a non-root user. docs/operations.md#containers.

FROM docker.io/library/golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
# The whole tree, .git included: the build records its commit for
# `clnd version`.
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /out/clnd ./cmd/clnd \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
# ca-certificates (Stripe, PayPal, PostgreSQL over TLS) and the nonroot
# user (65532) come with the base image; there is no shell.
COPY --from=build /out/clnd /usr/local/bin/clnd
# The embedded database's home, when CLND_DATABASE_URL is not PostgreSQL.
COPY --from=build --chown=65532:65532 /out/data /data
ENV CLND_ADDR=:8080 \
    CLND_DATABASE_URL=sqlite:///data/clnd.db
VOLUME /data
USER 65532:65532
EXPOSE 8080
# No curl in the image: clnd asks itself.
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
  CMD ["clnd", "healthcheck", "--url", "http://127.0.0.1:8080/healthz"]
ENTRYPOINT ["clnd"]
CMD ["serve"]
