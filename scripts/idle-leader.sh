#!/usr/bin/env bash
# idle-leader.sh measures what an idle cluster costs its Raft leader as
# client nodes are added: the leader's CPU and its gossip and internode
# bytes per second, for N real conclave agents on 127.0.0.1 (scripts/core.sh:
# 5 voters, up to 4 standbys, every other node a client). The claim to check:
# the leader's cost is flat as clients are added, because clients are not in
# the Raft configuration and gossip's per-node load does not grow with N.
#
#   scripts/idle-leader.sh [WINDOW_SECONDS] [N ...]    default: 30 5 20 50
#   CALM=SECONDS (default 30): wait after the core settles, before measuring
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
window=${1:-30}
shift || true
sizes=("$@")
[ "${#sizes[@]}" -gt 0 ] || sizes=(5 20 50)
bin=bin/conclave
hz=$(getconf CLK_TCK)

metric() { # url name direction
	curl -s "$1" | awk -v n="$2" -v d="$3" '$1 == n"{direction=\""d"\"}" {printf "%d", $2}'
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

printf "%-6s %-8s %-10s %-14s %-14s %-16s %-16s\n" nodes voters leader_cpu gossip_in_B/s gossip_out_B/s internode_in_B/s internode_out_B/s
for n in "${sizes[@]}"; do
	bash scripts/core.sh clean >/dev/null 2>&1 || true
	bash scripts/core.sh start "$n" >&2
	sleep "${CALM:-30}" # let joins, adverts and the first push/pulls pass: measure the idle state
	st=$($bin raft status -o json --addr 127.0.0.1:8201)
	leader=$(sed -n 's/.*"leader_id": "node-\([0-9]*\)".*/\1/p' <<<"$st" | head -n 1)
	voters=$(grep -c '"role": "voter"' <<<"$st")
	pid=$(cat ".core/node$leader.pid")
	url="http://127.0.0.1:$((8300 + leader))/metrics"
	read -r c0 gi0 go0 ii0 io0 < <(echo "$(cpu_ticks "$pid") $(metric "$url" conclave_gossip_bytes_total in) \
$(metric "$url" conclave_gossip_bytes_total out) $(metric "$url" conclave_internode_bytes_total in) \
$(metric "$url" conclave_internode_bytes_total out)")
	sleep "$window" # the measurement window
	read -r c1 gi1 go1 ii1 io1 < <(echo "$(cpu_ticks "$pid") $(metric "$url" conclave_gossip_bytes_total in) \
$(metric "$url" conclave_gossip_bytes_total out) $(metric "$url" conclave_internode_bytes_total in) \
$(metric "$url" conclave_internode_bytes_total out)")
	printf "%-6s %-8s %-10s %-14s %-14s %-16s %-16s\n" "$n" "$voters" \
		"$(awk -v d=$((c1 - c0)) -v hz="$hz" -v w="$window" 'BEGIN{printf "%.2f%%", 100 * d / hz / w}')" \
		$(((gi1 - gi0) / window)) $(((go1 - go0) / window)) $(((ii1 - ii0) / window)) $(((io1 - io0) / window))
	bash scripts/core.sh clean >/dev/null 2>&1
done
