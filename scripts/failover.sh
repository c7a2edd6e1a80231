#!/usr/bin/env bash
# failover.sh measures, on the three-node local cluster of scripts/cluster.sh
# (real bin/conclave processes on 127.0.0.1), what an operator cares about
# first:
#   1. formation: agents started with bootstrap_expect 3 -> one leader and
#      three voters agreed on by every node;
#   2. failover: kill -9 of the leader -> a new leader, and -> the first
#      successful `conclave kv put` through each surviving node;
#   3. recovery: the killed node restarted on its data dir -> it sees every
#      key written before and after the kill.
# It starts from a clean .cluster/ and leaves the cluster running; stop it
# with `make cluster-stop`. Run with `make failover` or bash scripts/failover.sh.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bin=bin/conclave
addr() { echo "127.0.0.1:$((7938 + 2 * $1))"; } # node N's gRPC address
now_ms() { date +%s%3N; }
field() { sed -n "s/.*\"$1\": *\"\{0,1\}\([^\",]*\).*/\1/p" | head -n 1; }

[ -x "$bin" ] || { echo "failover: build first (make build)" >&2; exit 1; }
bash scripts/cluster.sh clean >/dev/null 2>&1 || true

# 1. Formation: start the agents and poll until every node names the same
# leader with three voters.
t0=$(now_ms)
CLUSTER_WAIT=30 bash scripts/cluster.sh start >/dev/null
# The nodes want the client certificate that cluster.sh made.
. .cluster/env
formed=""
for _ in $(seq 1 600); do
	ids=""
	for n in 1 2 3; do
		st=$($bin raft status -o json --addr "$(addr $n)" --timeout 1s 2>/dev/null) || continue
		[ "$(grep -c '"suffrage": "voter"' <<<"$st")" = 3 ] || continue
		ids+="$(field leader_id <<<"$st") "
	done
	read -r a b c <<<"$ids"
	if [ -n "${c:-}" ] && [ "$a" = "$b" ] && [ "$b" = "$c" ]; then formed=$a; break; fi
	sleep 0.05
done
[ -n "$formed" ] || { echo "failover: no agreed leader within 30 s" >&2; exit 1; }
echo "formation: $(($(now_ms) - t0)) ms from starting the agents to leader $formed agreed by 3 voters"

for i in $(seq 1 20); do $bin kv put "before/$i" "v$i" --addr "$(addr 1)" >/dev/null; done

# 2. Failover: kill -9 the leader.
victim=${formed#node-}
pid=$(cat ".cluster/node$victim.pid")
kill -9 "$pid"
t0=$(now_ms)
survivors=()
for n in 1 2 3; do [ "$n" = "$victim" ] || survivors+=("$n"); done
new=""
while [ -z "$new" ]; do
	for n in "${survivors[@]}"; do
		st=$($bin raft status -o json --addr "$(addr $n)" --timeout 1s 2>/dev/null) || continue
		if [ "$(field state <<<"$st")" = leader ]; then new=$(field node <<<"$st"); fi
	done
	[ $(($(now_ms) - t0)) -lt 15000 ] || { echo "failover: no new leader within 15 s" >&2; exit 1; }
	[ -n "$new" ] || sleep 0.02
done
echo "failover: $(($(now_ms) - t0)) ms from kill -9 of $formed to $new leading"
for n in "${survivors[@]}"; do
	until $bin kv put "after/$n" x --addr "$(addr $n)" --timeout 2s >/dev/null 2>&1; do
		[ $(($(now_ms) - t0)) -lt 15000 ] || { echo "failover: no write through node-$n within 15 s" >&2; exit 1; }
		sleep 0.02
	done
	echo "failover: $(($(now_ms) - t0)) ms from kill -9 to a successful kv put through node-$n"
done

# 3. Recovery: restart the killed node on its data dir.
t0=$(now_ms)
bash scripts/cluster.sh start >/dev/null 2>&1 || true
want=$((20 + ${#survivors[@]}))
until [ "$($bin kv list --mode stale -o json --addr "$(addr "$victim")" --timeout 1s 2>/dev/null | grep -c "\"key\"")" -ge "$want" ]; do
	[ $(($(now_ms) - t0)) -lt 30000 ] || { echo "failover: restarted node did not catch up within 30 s" >&2; exit 1; }
	sleep 0.05
done
echo "recovery: $(($(now_ms) - t0)) ms from restarting $formed to it listing all $want keys from its own replica"
