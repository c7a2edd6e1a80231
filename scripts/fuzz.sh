#!/usr/bin/env bash
# fuzz.sh runs every native Go fuzz target of the module (func FuzzX in a
# _test.go file) with the fuzzing engine, one target after the other, each
# for FUZZTIME, and prints a summary (target, package, execs, result).
#
#   FUZZTIME=10s bash scripts/fuzz.sh          # every target, 10 s each (make fuzz)
#   FUZZ=FuzzForward bash scripts/fuzz.sh      # only targets matching the regexp FUZZ
#   make fuzz FUZZ='FuzzReadFrame$$|FuzzWire'   # through make, write $$ for a regexp's $
#
# Plain `go test` (so `make test`) already runs each target's seed corpus:
# its f.Add seeds and the files under testdata/fuzz/FuzzX/. This script is
# the search for new inputs. A failing input is written by go test to
# <package>/testdata/fuzz/FuzzX/<hash>; fix the bug and commit that file, so
# the crash stays a regression test of `make test`.
#
# Environment: FUZZTIME (default 10s, a duration or Nx), FUZZ (regexp on
# target names, default every target), FUZZPARALLEL (fuzzing workers per
# target, default 1: machines here have few cores), FUZZMINIMIZETIME
# (default 1s: go test's 60 s default stalls a short run while it shrinks
# each new interesting input), GO (default go).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-10s}
FUZZ=${FUZZ:-.}
FUZZPARALLEL=${FUZZPARALLEL:-1}
FUZZMINIMIZETIME=${FUZZMINIMIZETIME:-1s}

# Packages of this module (not of nested modules such as
# internal/bench/peers) with a fuzz target; go test -list then names the
# targets (compiling each test binary once, as go test would).
pkgs=()
while read -r dir; do
	if grep -qs '^func Fuzz' "$dir"/*_test.go; then
		pkgs+=("./${dir#"$PWD"/}")
	fi
done < <($GO list -f '{{.Dir}}' ./...)
if [[ ${#pkgs[@]} -eq 0 ]]; then
	echo "fuzz: no fuzz targets found" >&2
	exit 1
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
summary=()
failed=0
for pkg in "${pkgs[@]}"; do
	if ! list=$($GO test -list '^Fuzz' "$pkg"); then
		echo "fuzz: cannot list the targets of $pkg" >&2
		summary+=("$(printf '%-22s %-14s %10s        %s' '?' "${pkg#./}" '' 'FAIL (does not build)')")
		failed=1
		continue
	fi
	mapfile -t targets < <(grep '^Fuzz' <<<"$list" | grep -E -- "$FUZZ" || true)
	for t in "${targets[@]}"; do
		echo "==> $GO test -run '^\$' -fuzz '^$t\$' -fuzztime $FUZZTIME -fuzzminimizetime $FUZZMINIMIZETIME -parallel $FUZZPARALLEL $pkg"
		corpus="$pkg/testdata/fuzz/$t"
		before=$(ls "$corpus" 2>/dev/null | sort || true)
		result=ok
		if ! $GO test -run '^$' -fuzz "^$t\$" -fuzztime "$FUZZTIME" -fuzzminimizetime "$FUZZMINIMIZETIME" \
			-parallel "$FUZZPARALLEL" "$pkg" 2>&1 | tee "$log"; then
			after=$(ls "$corpus" 2>/dev/null | sort || true)
			# Go before 1.27 may fail a run at the -fuzztime deadline with a
			# bare "context deadline exceeded" and no failing input (a race
			# in its fuzzing coordinator, golang/go#75804): not a finding.
			if [[ "$after" == "$before" ]] && grep -q '^    context deadline exceeded$' "$log"; then
				result="ok (go#75804 deadline race at the end, no failing input)"
			else
				result=FAIL
				failed=1
			fi
		fi
		execs=$(grep -o 'execs: [0-9]*' "$log" | tail -n1 | cut -d' ' -f2 || true)
		summary+=("$(printf '%-22s %-14s %10s execs  %s' "$t" "${pkg#./}" "${execs:-?}" "$result")")
	done
done

echo
echo "fuzz summary (FUZZTIME=$FUZZTIME each):"
printf '  %s\n' "${summary[@]}"
if [[ $failed -ne 0 ]]; then
	echo "fuzz: a target failed; its input is under <package>/testdata/fuzz/<target>/" >&2
	exit 1
fi
