# syntax=docker/dockerfile:1
#
# mediawatch as a container image: a static binary on distroless, running as
# nonroot with its state under /data.
#   docker build --build-arg VERSION=$(git describe --always --dirty) -t mediawatch .
#   docker run -v mediawatch-data:/data -v $PWD/mediawatch.yaml:/etc/mediawatch/mediawatch.yaml:ro \
#     -p 127.0.0.1:8080:8080 mediawatch
# The configuration must listen on all interfaces (http.listen: 0.0.0.0:8080)
# and keep data_dir at /data. deploy/docker-compose.yml runs it with NATS,
# Prometheus and Grafana.

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
# The zone database is in the binary (time/tzdata) and CA certificates come
# with the distroless image, so it needs nothing else.
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
	CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags "-s -w -X main.version=${VERSION}" \
	-o /out/mediawatch ./cmd/mediawatch && \
	mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/mediawatch /mediawatch
# An empty /data owned by nonroot, so a new volume mounted there is writable.
COPY --from=build --chown=65532:65532 /out/data /data
USER nonroot:nonroot
WORKDIR /data
EXPOSE 8080
VOLUME /data
# No HEALTHCHECK: the image has no shell or HTTP client. Orchestrators probe
# GET /healthz (liveness) and GET /readyz (readiness) on port 8080.
ENTRYPOINT ["/mediawatch", "run"]
CMD ["--config", "/etc/mediawatch/mediawatch.yaml"]
