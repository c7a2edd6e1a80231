#!/usr/bin/env bash
# logstore-syncs.sh counts the disk syncs one commit costs with each log
# store (cluster.raft.log_store): for bolt and then wal it starts three
# bin/conclave agents on 127.0.0.1, attaches strace to the leader and to one
# follower, makes PUTS sequential `conclave kv put` calls (each one commit,
# nothing to batch with) and prints fdatasync + fsync calls per put on each.
# A count, unlike a rate, is not disturbed by a busy machine (strace slows
# the traced agent; it does not change what it syncs).
#
#   bash scripts/logstore-syncs.sh [PUTS]      (default 200; build first: make build)
#
# Environment: LOGSTORE_PORT_BASE (default 17960): node N (0-2) listens on
# base+4N (gossip), +1 (internode), +2 (gRPC), +3 (HTTP).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bin="$root/bin/conclave"
puts=${1:-200}
base=${LOGSTORE_PORT_BASE:-17960}

[ -x "$bin" ] || { echo "logstore-syncs: build first (make build)" >&2; exit 1; }
command -v strace >/dev/null || { echo "logstore-syncs: needs strace (apt-get install strace)" >&2; exit 1; }

work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

port() { echo $((base + 4 * $1 + $2)); } # port N K: K 0 gossip, 1 internode, 2 gRPC, 3 HTTP
grpc() { echo "127.0.0.1:$(port "$1" 2)"; }

config() { # config N STORE
	cat <<EOF
cluster:
  enabled: true
  name: node-$1
  failure_domain: zone-$1
  data_dir: $work/$2/node-$1
  membership:
    bind_addr: 127.0.0.1
    bind_port: $(port "$1" 0)
    join_addrs: ["127.0.0.1:$(port 0 0)", "127.0.0.1:$(port 1 0)", "127.0.0.1:$(port 2 0)"]
  internode:
    bind_addr: 127.0.0.1
    bind_port: $(port "$1" 1)
  raft:
    bootstrap_expect: 3
    log_store: $2
api:
  grpc_addr: $(grpc "$1")
  http_addr: 127.0.0.1:$(port "$1" 3)
log:
  level: warn
  format: json
EOF
}

# syncs FILE prints the fdatasync + fsync calls in an `strace -c` summary.
syncs() { awk '$NF == "fdatasync" || $NF == "fsync" { n += $4 } END { print n + 0 }' "$1"; }
# kinds FILE prints them by name, e.g. "fdatasync 400".
kinds() { awk '$NF == "fdatasync" || $NF == "fsync" { printf "%s%s %d", sep, $NF, $4; sep = ", " }' "$1"; }

for store in bolt wal; do
	pids=()
	for n in 0 1 2; do
		mkdir -p "$work/$store"
		config "$n" "$store" >"$work/$store/node-$n.yaml"
		"$bin" agent --config "$work/$store/node-$n.yaml" >"$work/$store/node-$n.log" 2>&1 &
		pids+=($!)
	done
	leader=""
	for _ in $(seq 1 300); do
		leader=$("$bin" raft status -o json --addr "$(grpc 0)" --timeout 1s 2>/dev/null |
			sed -n 's/.*"leader_id": *"\([^"]*\)".*/\1/p' | head -n1) || true
		[ -n "$leader" ] && "$bin" kv put warmup 1 --addr "$(grpc 0)" --timeout 2s >/dev/null 2>&1 && break
		leader=""
		sleep 0.1
	done
	[ -n "$leader" ] || { echo "logstore-syncs: $store: no leader within 30 s" >&2; exit 1; }
	l=${leader#node-}
	f=$(((l + 1) % 3))
	strace -f -c -e trace=fdatasync,fsync -o "$work/$store/leader.strace" -p "${pids[$l]}" 2>/dev/null &
	s1=$!
	strace -f -c -e trace=fdatasync,fsync -o "$work/$store/follower.strace" -p "${pids[$f]}" 2>/dev/null &
	s2=$!
	sleep 1 # strace attaches to every thread
	for i in $(seq 1 "$puts"); do
		"$bin" kv put "syncs/$i" "value-$i" --addr "$(grpc "$l")" --timeout 5s >/dev/null
	done
	kill -INT "$s1" "$s2"
	wait "$s1" "$s2" 2>/dev/null || true
	ls=$(syncs "$work/$store/leader.strace")
	fs=$(syncs "$work/$store/follower.strace")
	awk -v s="$store" -v p="$puts" -v l="$ls" -v f="$fs" -v ln="$leader" -v fn="node-$f" \
		-v lk="$(kinds "$work/$store/leader.strace")" -v fk="$(kinds "$work/$store/follower.strace")" 'BEGIN {
		printf "%-4s  %d puts, one at a time: leader %s %.2f syncs per put (%s), follower %s %.2f per put (%s)\n",
			s, p, ln, l / p, lk, fn, f / p, fk }'
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
	wait "${pids[@]}" 2>/dev/null || true
	pids=()
done
