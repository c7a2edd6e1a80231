#!/usr/bin/env bash
# docker-build.sh IMAGE builds the conclave container image FROM scratch:
# a static binary (CGO_ENABLED=0) and deploy/docker/conclave.yaml, staged
# in a temporary build context so nothing else of the tree is sent to the
# daemon. No base image is pulled.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
image=${1:-conclave:dev}
export PATH=$PATH:/usr/local/go/bin

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w $(bash scripts/ldflags.sh)" -o "$ctx/conclave" ./cmd/conclave
cp deploy/docker/Dockerfile deploy/docker/conclave.yaml "$ctx/"
docker build --quiet -t "$image" "$ctx" >/dev/null
echo "built $image ($(docker image inspect -f '{{.Size}}' "$image") bytes)"
