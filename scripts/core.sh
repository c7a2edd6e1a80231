#!/usr/bin/env bash
# core.sh runs N conclave agents on 127.0.0.1 (default 12) to show the
# bounded Raft core: three nodes bootstrap (bootstrap_expect 3), the rest
# join with bootstrap_expect 0, and the leader's reconciler settles the core
# to at most 5 voters spread over the failure domains, up to 4 standbys, and
# clients for everyone else. Node i listens on gossip 8000+i, internode
# 8100+i, gRPC 8200+i, HTTP 8300+i; its failure domain is zone-a/b/c by i mod 3.
#
#   scripts/core.sh start [N]   start N agents (state in .core/), wait for the core to settle
#   scripts/core.sh status      raft status of node 1 (table)
#   scripts/core.sh kill-voters K   kill -9 K voters that are not the leader, then wait for
#                               the core to get back to its voter count by promotion
#   scripts/core.sh stop        SIGTERM every agent
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bin=bin/conclave
state=.core
now_ms() { date +%s%3N; }
grpc() { echo "127.0.0.1:$((8200 + $1))"; }

status_json() { # first node that answers
	local n
	for n in $(ls "$state"/*.pid 2>/dev/null | sed 's/.*node\([0-9]*\).pid/\1/' | sort -n); do
		kill -0 "$(cat "$state/node$n.pid")" 2>/dev/null || continue
		$bin raft status -o json --addr "$(grpc "$n")" --timeout 2s 2>/dev/null && return 0
	done
	return 1
}

count() { grep -c "\"role\": \"$1\"" || true; }

wait_core() { # voters standbys clients timeout_s
	local t0 st
	t0=$(now_ms)
	while :; do
		if st=$(status_json) && [ "$(count voter <<<"$st")" = "$1" ] &&
			[ "$(count standby <<<"$st")" = "$2" ] && [ "$(count client <<<"$st")" = "$3" ]; then
			echo "$(($(now_ms) - t0))"
			return 0
		fi
		[ $(($(now_ms) - t0)) -lt $(($4 * 1000)) ] || return 1
		sleep 0.2
	done
}

start() {
	local n=${1:-12} i
	[ -x "$bin" ] || { echo "core: build first (make build)" >&2; exit 1; }
	mkdir -p "$state"
	local joins=""
	for i in $(seq 1 "$n"); do joins+="\"127.0.0.1:$((8000 + i))\", "; done
	local t0
	t0=$(now_ms)
	for i in $(seq 1 "$n"); do
		local expect=0 zone
		[ "$i" -le 3 ] && expect=3
		zone=zone-$(printf "\x$(printf %x $((97 + i % 3)))")
		cat >"$state/node$i.yaml" <<YAML
cluster:
  name: node-$i
  failure_domain: $zone
  data_dir: $state/node$i
  membership:
    bind_addr: 127.0.0.1
    bind_port: $((8000 + i))
    join_addrs: [${joins%, }]
  internode:
    bind_addr: 127.0.0.1
    bind_port: $((8100 + i))
  raft:
    bootstrap_expect: $expect
api:
  grpc_addr: $(grpc "$i")
  http_addr: 127.0.0.1:$((8300 + i))
log:
  level: info
YAML
		setsid $bin agent --config "$state/node$i.yaml" >"$state/node$i.log" 2>&1 </dev/null &
		echo $! >"$state/node$i.pid"
	done
	local v s c ms
	v=$(( n >= 5 ? 5 : (n % 2 == 1 ? n : n - 1) ))
	s=$(( n - v >= 4 ? 4 : n - v ))
	c=$(( n - v - s ))
	if ms=$(wait_core "$v" "$s" "$c" 60); then
		echo "core: $n agents settled to $v voters, $s standbys, $c clients $(($(now_ms) - t0)) ms after start"
	else
		echo "core: did not settle to $v/$s/$c within 60 s" >&2
		status_json >&2 || true
		exit 1
	fi
}

kill_voters() {
	local k=${1:-2} st victims=() id pid t0 v s c
	st=$(status_json)
	v=$(count voter <<<"$st"); s=$(count standby <<<"$st"); c=$(count client <<<"$st")
	for id in $(tr -d ' \n' <<<"$st" | grep -o '{"id":"node-[0-9]*","role":"voter","address":"[^"]*","suffrage":"voter","leader":false' | sed 's/{"id":"node-\([0-9]*\)".*/\1/'); do
		[ "${#victims[@]}" -lt "$k" ] && victims+=("$id")
	done
	t0=$(now_ms)
	for id in "${victims[@]}"; do
		pid=$(cat "$state/node$id.pid")
		kill -9 "$pid"
		echo "core: killed voter node-$id (pid $pid)"
	done
	# The killed voters' seats go to standbys; the standbys' to clients.
	local want_s=$(( s + c >= s ? s : s )) want_c=$(( c - k >= 0 ? c - k : 0 ))
	[ $(( s + c - k )) -lt "$s" ] && want_s=$(( s + c - k ))
	if ms=$(wait_core "$v" "$want_s" "$want_c" 60); then
		echo "core: back to $v voters ($want_s standbys, $want_c clients) $(($(now_ms) - t0)) ms after kill -9 of ${#victims[@]} voters"
	else
		echo "core: did not get back to $v voters within 60 s" >&2
		status_json >&2 || true
		exit 1
	fi
}

# alive succeeds if pid is a live process (a zombie counts as gone).
alive() {
	kill -0 "$1" 2>/dev/null || return 1
	[ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]
}

stop() {
	local f pids=() pid i
	for f in "$state"/*.pid; do
		[ -f "$f" ] || continue
		pid=$(cat "$f")
		kill -TERM "$pid" 2>/dev/null && pids+=("$pid")
		rm -f "$f"
	done
	for ((i = 0; i < 300; i++)); do
		local left=0
		for pid in "${pids[@]}"; do alive "$pid" && left=1; done
		[ "$left" = 0 ] && return 0
		sleep 0.1
	done
	for pid in "${pids[@]}"; do alive "$pid" && kill -KILL "$pid" 2>/dev/null; done
	return 0
}

case ${1:-} in
start) start "${2:-12}" ;;
status) $bin raft status --addr "$(grpc 1)" ;;
kill-voters) kill_voters "${2:-2}" ;;
stop) stop ;;
clean) stop; rm -rf "$state" ;;
*) echo "usage: $0 start [N] | status | kill-voters [K] | stop | clean" >&2; exit 2 ;;
esac
