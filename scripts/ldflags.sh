#!/usr/bin/env bash
# ldflags.sh prints the linker flags that stamp the conclave binary with
# its version and commit (cmd/conclave/version.go): `make build` and
# scripts/docker-build.sh pass them as -ldflags. Go's own VCS stamp is not
# enough: it is off with -buildvcs=false and absent in git worktrees.
# Outside a git checkout it prints nothing and the binary falls back to
# Go's build info ("devel", commit "unknown").
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

commit=$(git rev-parse HEAD 2>/dev/null) || exit 0
modified=false
if [[ -n $(git status --porcelain --untracked-files=no 2>/dev/null) ]]; then
	modified=true
fi
flags="-X main.commit=$commit -X main.modified=$modified"
# A release tag (v1.2.3) names the version; between tags git describe
# adds the distance and the commit (v1.2.3-4-gabcdef0).
if version=$(git describe --tags --match 'v[0-9]*' 2>/dev/null); then
	flags+=" -X main.version=$version"
fi
echo "$flags"
