#!/usr/bin/env bash
# gen-proto.sh regenerates api/conclavepb from api/proto. The protoc plugins
# are pinned and installed into the repo-local .bin/ so every machine
# generates byte-identical code; protoc itself comes from the distribution
# (Debian package protobuf-compiler).
set -euo pipefail

PROTOC_GEN_GO_VERSION=v1.36.12
PROTOC_GEN_GO_GRPC_VERSION=v1.6.0

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bin="$root/.bin"
mkdir -p "$bin"

if ! command -v protoc >/dev/null 2>&1; then
	if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
		echo "gen-proto: installing protobuf-compiler" >&2
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq protobuf-compiler
	else
		echo "gen-proto: protoc not found; install it (Debian: apt-get install protobuf-compiler)" >&2
		exit 1
	fi
fi

# install_plugin NAME PACKAGE VERSION WANT_VERSION_OUTPUT
install_plugin() {
	local name=$1 pkg=$2 version=$3 want=$4
	if [ -x "$bin/$name" ] && [ "$("$bin/$name" --version 2>/dev/null)" = "$want" ]; then
		return
	fi
	echo "gen-proto: installing $pkg@$version into .bin/" >&2
	GOBIN="$bin" go install "$pkg@$version"
}
install_plugin protoc-gen-go google.golang.org/protobuf/cmd/protoc-gen-go \
	"$PROTOC_GEN_GO_VERSION" "protoc-gen-go $PROTOC_GEN_GO_VERSION"
install_plugin protoc-gen-go-grpc google.golang.org/grpc/cmd/protoc-gen-go-grpc \
	"$PROTOC_GEN_GO_GRPC_VERSION" "protoc-gen-go-grpc ${PROTOC_GEN_GO_GRPC_VERSION#v}"

module=github.com/conclave-dev/conclave
out=api/conclavepb
# Remove only generated files so hand-written ones (doc.go) survive and
# files of deleted protos do not linger.
rm -f "$out"/*.pb.go

PATH="$bin:$PATH" protoc \
	-I api/proto \
	--go_out=. --go_opt=module="$module" \
	--go-grpc_out=. --go-grpc_opt=module="$module" \
	api/proto/conclave/v1/*.proto

echo "gen-proto: wrote $(ls "$out"/*.pb.go | wc -l) files to $out" >&2
