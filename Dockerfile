# syntax=docker/dockerfile:1
#
# One image, two static binaries: /manager (the operator) and /prefect-server
# (the Prefect server it runs), so operator and server versions move together.
# The operator's Deployment runs /manager; the server pods it renders run
# /prefect-server serve; `docker run <image>` starts a server.
#
#   docker build -t ghcr.io/prefectgo/prefectgo:dev .

ARG GO_VERSION=1.26

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
ARG TARGETOS=linux
ARG TARGETARCH=amd64
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY api/ api/
COPY cmd/ cmd/
COPY controllers/ controllers/
COPY server/ server/
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags="-s -w" -o /out/ ./cmd/manager ./cmd/prefect-server

# distroless static: CA certificates and tzdata, no shell, user 65532.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/manager /manager
COPY --from=build /out/prefect-server /prefect-server
USER 65532:65532
EXPOSE 4200
ENTRYPOINT ["/prefect-server"]
CMD ["serve"]
