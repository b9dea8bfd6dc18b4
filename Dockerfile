# syntax=docker/dockerfile:1
#
# One image, two static binaries: /manager (the operator) and /prefect-server
# (the Prefect server it runs), so operator and server versions move together.
# The operator's Deployment runs /manager; the server pods it renders run
# /prefect-server serve; `docker run <image>` starts a server, with Prefect's
# web UIs in /ui and its block catalogue and collection views in /catalogue,
# taken from the pinned prefect package as the build runs.
#
#   docker build -t ghcr.io/prefectgo/prefectgo:dev .

ARG GO_VERSION=1.26
# As the Makefile's PREFECT_VERSION (hack/imagebuild's test checks).
ARG PREFECT_VERSION=3.9.1
# As the Makefile's SERVER_GOEXPERIMENT: encoding/json on json/v2 (hack/imagebuild's test checks).
ARG SERVER_GOEXPERIMENT=jsonv2

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
ARG SERVER_GOEXPERIMENT
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
    GOEXPERIMENT=${SERVER_GOEXPERIMENT} CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags="-s -w" -o /out/ ./cmd/manager ./cmd/prefect-server

# The UIs, by the script that fetches them for make run-server and the tests.
FROM --platform=$BUILDPLATFORM python:3.12-slim AS ui
ARG PREFECT_VERSION
COPY hack/ui-assets.sh /ui-assets.sh
RUN dir=$(CACHE=/tmp/cache VENV=/nonexistent PREFECT_VERSION=${PREFECT_VERSION} /ui-assets.sh) && \
    mkdir /ui && mv "$dir/v1" "$dir/v2" /ui/

# The block catalogue and collection views, by the script that writes them for make run-server
# and the tests; it runs the pinned prefect, which hack/python-env.sh installs in the stage.
FROM --platform=$BUILDPLATFORM python:3.12-slim AS catalogue
ARG PREFECT_VERSION
COPY hack/python-env.sh hack/catalogue-assets.sh hack/block-catalogue.py /hack/
RUN dir=$(CACHE=/tmp/cache PREFECT_VERSION=${PREFECT_VERSION} /hack/catalogue-assets.sh) && \
    mkdir /catalogue && mv "$dir/blocks.json" "$dir/views" /catalogue/

# distroless static: CA certificates and tzdata, no shell, user 65532.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/manager /manager
COPY --from=build /out/prefect-server /prefect-server
COPY --from=ui /ui /ui
COPY --from=catalogue /catalogue /catalogue
ENV PREFECT_SERVER_UI_STATIC_DIRECTORY=/ui
ENV PREFECT_SERVER_CATALOGUE_DIRECTORY=/catalogue
USER 65532:65532
EXPOSE 4200
ENTRYPOINT ["/prefect-server"]
CMD ["serve"]
