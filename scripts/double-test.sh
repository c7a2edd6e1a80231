#!/usr/bin/env bash
# double-test.sh checks that the test suite survives a second one beside it
# (issue 17): for each of ROUNDS rounds it makes two clean clones of this
# checkout at REV, runs `CI=true bash .ci/run` in the first and, 15 s later,
# `make test` in the second, waits for both and prints one line per round.
# Logs go to $OUT/roundN.{ci,test}.log.
#
#   bash scripts/double-test.sh [REV (HEAD)] [ROUNDS (3)]
#
# Environment: OUT (a new temporary directory).
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
rev=$(git -C "$root" rev-parse --short "${1:-HEAD}") || exit 2
rounds=${2:-3}
out=${OUT:-$(mktemp -d /tmp/double-test.XXXXXX)}
mkdir -p "$out"
echo "double-test: $rounds rounds of $rev, logs in $out"
for r in $(seq 1 "$rounds"); do
	for side in ci test; do
		rm -rf "$out/$side"
		git clone -q "$root" "$out/$side" && git -C "$out/$side" checkout -q "$rev" || exit 2
	done
	start=$SECONDS
	(cd "$out/ci" && CI=true bash .ci/run >"$out/round$r.ci.log" 2>&1; echo $? >"$out/round$r.ci.rc") &
	sleep 15
	(cd "$out/test" && make test >"$out/round$r.test.log" 2>&1; echo $? >"$out/round$r.test.rc") &
	wait
	echo "round $r: .ci/run exit $(cat "$out/round$r.ci.rc"), make test exit $(cat "$out/round$r.test.rc"), $((SECONDS - start)) s"
done
