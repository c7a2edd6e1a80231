#!/usr/bin/env bash
# soak.sh looks for false elections on the three-node local cluster of
# scripts/cluster.sh (real bin/conclave processes, production timings): it
# records every node's Raft term and leader, leaves the cluster idle for
# IDLE seconds, records again, then for LOAD seconds runs a put workload
# (PUTTERS loops of `conclave kv put`, spread over the three nodes) while
# BURNERS busy loops keep every core saturated, and records again. A term
# that moved means an election happened; with no node killed, it was a
# false one. Run with `make soak` or bash scripts/soak.sh; stop the cluster
# afterwards with `make cluster-stop`.
#
# Environment: IDLE (600), LOAD (600), PUTTERS (4), BURNERS (the number of
# CPUs).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bin=bin/conclave
idle=${IDLE:-600}
load=${LOAD:-600}
putters=${PUTTERS:-4}
burners=${BURNERS:-$(nproc)}
addr() { echo "127.0.0.1:$((7938 + 2 * $1))"; } # node N's gRPC address
field() { sed -n "s/.*\"$1\": *\"\{0,1\}\([^\",]*\).*/\1/p" | head -n 1; }

[ -x "$bin" ] || { echo "soak: build first (make build)" >&2; exit 1; }
bash scripts/cluster.sh clean >/dev/null 2>&1 || true
CLUSTER_WAIT=30 bash scripts/cluster.sh start >/dev/null
. .cluster/env

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

# view prints "node term leader" for every node; a node that does not
# answer prints "?".
view() {
	for n in 1 2 3; do
		st=$($bin raft status -o json --addr "$(addr "$n")" --timeout 2s 2>/dev/null) || { echo "node-$n ? ?"; continue; }
		echo "node-$n $(field term <<<"$st") $(field leader_id <<<"$st")"
	done
}
# settle waits until the three nodes agree on a leader and a term.
settle() {
	for _ in $(seq 1 300); do
		v=$(view)
		if [ "$(awk '{print $2" "$3}' <<<"$v" | sort -u | wc -l)" = 1 ] && ! grep -q '?' <<<"$v"; then
			echo "$v"
			return
		fi
		sleep 0.1
	done
	echo "soak: the nodes never agreed on a leader" >&2
	view >&2
	exit 1
}
terms() { awk '{print $2}' <<<"$1" | sort -u | tr '\n' ' '; }

start=$(settle)
echo "start: term $(terms "$start")leader $(awk 'NR==1{print $3}' <<<"$start")"

sleep "$idle"
after_idle=$(settle)
echo "after ${idle} s idle: term $(terms "$after_idle")leader $(awk 'NR==1{print $3}' <<<"$after_idle")"

for _ in $(seq 1 "$burners"); do
	(while :; do :; done) &
	pids+=($!)
done
count=$(mktemp)
for p in $(seq 1 "$putters"); do
	(
		i=0 ok=0 bad=0
		end=$((SECONDS + load))
		while [ $SECONDS -lt $end ]; do
			n=$(((p + i) % 3 + 1))
			if $bin kv put "soak/$p/$((i % 1000))" "v$i" --addr "$(addr "$n")" --timeout 5s >/dev/null 2>&1; then
				ok=$((ok + 1))
			else
				bad=$((bad + 1))
			fi
			i=$((i + 1))
		done
		echo "$ok $bad" >>"$count"
	) &
	pids+=($!)
done
wait "${pids[@]:$burners}"
for p in "${pids[@]:0:$burners}"; do kill "$p" 2>/dev/null || true; done
after_load=$(settle)
read -r ok bad < <(awk '{o += $1; b += $2} END {print o, b}' "$count")
rm -f "$count"
echo "after ${load} s of puts with $burners busy loops: term $(terms "$after_load")leader $(awk 'NR==1{print $3}' <<<"$after_load"); $ok puts ok, $bad failed"

t0=$(terms "$start"); t1=$(terms "$after_idle"); t2=$(terms "$after_load")
echo "elections: idle $([ "$t0" = "$t1" ] && echo none || echo "term $t0-> $t1"), loaded $([ "$t1" = "$t2" ] && echo none || echo "term $t1-> $t2")"
