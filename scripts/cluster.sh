#!/usr/bin/env bash
# cluster.sh runs a three-node conclave cluster on 127.0.0.1 for development:
# the agents are bin/conclave processes started from deploy/local/node{1,2,3}.yaml,
# each with its data under .cluster/nodeN, its log in .cluster/nodeN.log and
# its pid in .cluster/nodeN.pid.
#
# The cluster is secured like a real one: on the first start the script makes
# a CA, a certificate for each node and one client certificate (with
# `conclave tls`) into .cluster/tls/, and a gossip key into .cluster/gossip.key;
# the nodes run mutual TLS on every door (tls.verify_incoming) and encrypted
# gossip. It writes .cluster/env, which exports CONCLAVE_CACERT,
# CONCLAVE_CLIENT_CERT and CONCLAVE_CLIENT_KEY for the CLI: `. .cluster/env`.
#
# With CLUSTER_ACL=on (`make cluster ACL=on`) the nodes also enforce ACLs
# (deploy/local/acl.yaml: acl.enabled, default_policy deny): the script starts
# them from .cluster/nodeN.yaml, nodeN.yaml with that appended, and remembers
# the choice in .cluster/acl, so later starts keep ACLs on until CLUSTER_ACL=off
# or `make cluster-clean`. It does not bootstrap: `conclave acl bootstrap`
# prints the management token, once (docs/acl.md).
#
#   scripts/cluster.sh start    start the nodes that are not running, wait for a leader
#   scripts/cluster.sh stop     SIGTERM every node, wait for them to exit
#   scripts/cluster.sh status   raft status as seen by the first node that answers
#   scripts/cluster.sh clean    stop, then delete .cluster/
#
# Environment: CLUSTER_WAIT (seconds to wait for a leader, default 20),
# CLUSTER_STOP_WAIT (seconds after SIGTERM before SIGKILL, default 20),
# CLUSTER_ACL (on or off; empty: as the last start, off the first time).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

bin=bin/conclave
state=.cluster
tlsdir=$state/tls
envfile=$state/env
nodes=(1 2 3)
wait_leader=${CLUSTER_WAIT:-20}
wait_stop=${CLUSTER_STOP_WAIT:-20}
aclfile=$state/acl

# Ports of node N, in the order gossip internode gRPC HTTP DNS. They must match
# deploy/local/nodeN.yaml; they are repeated here only to check that they are
# free before starting and to print where each node listens.
ports() {
	case $1 in
	1) echo 7946 7960 7940 7941 8600 ;;
	2) echo 7947 7961 7942 7943 8601 ;;
	3) echo 7948 7962 7944 7945 8602 ;;
	esac
}
grpc_addr() { local p; read -r _ _ p _ <<<"$(ports "$1")"; echo "127.0.0.1:$p"; }
http_addr() { local p; read -r _ _ _ p _ <<<"$(ports "$1")"; echo "127.0.0.1:$p"; }

log() { echo "cluster: $*" >&2; }
die() {
	log "$*"
	exit 1
}

pidfile() { echo "$state/node$1.pid"; }

# alive succeeds if pid is a live process. A zombie (exited, not yet
# reaped: the agents are orphans of this script) counts as gone.
alive() {
	kill -0 "$1" 2>/dev/null || return 1
	local state
	state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
	[ "$state" != Z ]
}

# running N prints node N's pid and succeeds if it is alive. The pid file is
# trusted only if that process is still a conclave agent, so a stale file
# whose pid was reused by something else is never signalled.
running() {
	local f pid
	f=$(pidfile "$1")
	[ -f "$f" ] || return 1
	pid=$(<"$f")
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	alive "$pid" || return 1
	if [ -r "/proc/$pid/cmdline" ]; then
		tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "conclave agent" || return 1
	fi
	echo "$pid"
}

# port_busy succeeds if something accepts TCP connections on 127.0.0.1:$1.
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# leader_of ADDR prints the leader's ID as the node at ADDR reports it, or
# nothing. It reads `raft status -o json` without jq: the field may be spelt
# leader_id, leaderId or LeaderID depending on the encoder.
leader_of() {
	"$bin" raft status -o json --timeout 2s --addr "$1" 2>/dev/null |
		grep -Eio '"leader_?id"[[:space:]]*:[[:space:]]*"[^"]+"' |
		head -n1 | sed -E 's/.*:[[:space:]]*"([^"]+)"$/\1/' || true
}

# acl_mode prints on or off: CLUSTER_ACL if given, else what the last start
# chose (.cluster/acl), else off.
acl_mode() {
	case "${CLUSTER_ACL:-}" in
	on | off) echo "$CLUSTER_ACL" ;;
	"") if [ -f "$aclfile" ]; then echo on; else echo off; fi ;;
	*) die "CLUSTER_ACL (make cluster ACL=...) must be on or off; got '$CLUSTER_ACL'" ;;
	esac
}

# node_config N ACL prints the config file node N starts from: the one in
# deploy/local/, or with ACL on that one with deploy/local/acl.yaml appended,
# written to .cluster/nodeN.yaml.
node_config() {
	local src=deploy/local/node$1.yaml
	if [ "$2" != on ]; then
		echo "$src"
		return
	fi
	cat "$src" deploy/local/acl.yaml >"$state/node$1.yaml"
	echo "$state/node$1.yaml"
}

# health_leader ADDR prints the leader named by the readiness check of the
# node whose HTTPS API is at ADDR, or nothing. With ACLs on `raft status`
# needs a token, and none exists before `conclave acl bootstrap`; health is
# open to all.
health_leader() {
	curl -s --max-time 2 --cacert "$CONCLAVE_CACERT" --cert "$CONCLAVE_CLIENT_CERT" --key "$CONCLAVE_CLIENT_KEY" \
		"https://$1/v1/health/ready" 2>/dev/null | tr -d '\n' |
		grep -Eo '"name":[[:space:]]*"leader",[[:space:]]*"status":[[:space:]]*"pass",[[:space:]]*"reason":[[:space:]]*"leader [^ ",]+' |
		head -n1 | sed -E 's/.*"leader //' || true
}

# secrets makes whatever is missing of the CA, the node and client
# certificates and the gossip key, and (re)writes the env file. Existing
# files are kept: `conclave tls` never overwrites, and restarts reuse them.
secrets() {
	mkdir -p "$tlsdir"
	chmod 700 "$tlsdir"
	if [ ! -f "$tlsdir/conclave-agent-ca.pem" ]; then
		"$bin" tls ca create --dir "$tlsdir" >/dev/null
		log "made a CA in $tlsdir/"
	fi
	local n name
	for n in "${nodes[@]}"; do
		name=node-$n
		[ -f "$tlsdir/$name.pem" ] || "$bin" tls cert create --node "$name" --dir "$tlsdir" >/dev/null
	done
	[ -f "$tlsdir/client.pem" ] || "$bin" tls cert create --client client --dir "$tlsdir" >/dev/null
	if [ ! -f "$state/gossip.key" ]; then
		(umask 077 && head -c 32 /dev/urandom | base64 >"$state/gossip.key")
		log "made a gossip key in $state/gossip.key"
	fi
	cat >"$envfile" <<EOF
# Written by scripts/cluster.sh: the CLI's client certificate for the local
# cluster. Load it into your shell with: . $envfile
export CONCLAVE_CACERT=$root/$tlsdir/conclave-agent-ca.pem
export CONCLAVE_CLIENT_CERT=$root/$tlsdir/client.pem
export CONCLAVE_CLIENT_KEY=$root/$tlsdir/client-key.pem
EOF
}

# use_env gives the script's own CLI calls the client certificate.
use_env() {
	[ -f "$envfile" ] || return 0
	# shellcheck source=/dev/null
	. "$envfile"
}

start() {
	[ -x "$bin" ] || die "$bin not found; run 'make cluster' (or 'make build' first)"
	mkdir -p "$state"
	local acl
	acl=$(acl_mode)
	secrets
	use_env
	if [ "$acl" = on ]; then
		command -v curl >/dev/null || die "ACL=on needs curl (the script reads /v1/health/ready: raft status needs a token)"
		: >"$aclfile"
	else
		# The ACL configs of an earlier start would only mislead.
		rm -f "$aclfile" "$state"/node[0-9].yaml
	fi
	local n p pid started=()
	for n in "${nodes[@]}"; do
		if pid=$(running "$n"); then
			log "node$n already running (pid $pid)"
			continue
		fi
		for p in $(ports "$n"); do
			if port_busy "$p"; then
				die "port $p (node$n) is already in use; is 'make run' or another cluster running? ('make cluster-stop' stops this one)"
			fi
		done
	done
	for n in "${nodes[@]}"; do
		running "$n" >/dev/null && continue
		mkdir -p "$state/node$n"
		# setsid: the agents outlive this script and the terminal's Ctrl-C;
		# they are stopped with `make cluster-stop`.
		setsid "$bin" agent --config "$(node_config "$n" "$acl")" \
			>>"$state/node$n.log" 2>&1 </dev/null &
		echo $! >"$(pidfile "$n")"
		started+=("$n")
		log "started node$n (pid $!, log $state/node$n.log)"
	done

	log "waiting up to ${wait_leader}s for a leader"
	local deadline=$((SECONDS + wait_leader)) leader="" all
	while :; do
		for n in "${started[@]}"; do
			if ! running "$n" >/dev/null; then
				log "node$n exited; last lines of $state/node$n.log:"
				tail -n 20 "$state/node$n.log" >&2 || true
				die "node$n failed to start ('make cluster-stop' stops the others)"
			fi
		done
		# Ready when every node reports the same leader, so the first command
		# after `make cluster` works on any of them.
		all=1 leader=""
		for n in "${nodes[@]}"; do
			local l
			if [ "$acl" = on ]; then
				l=$(health_leader "$(http_addr "$n")")
			else
				l=$(leader_of "$(grpc_addr "$n")")
			fi
			if [ -z "$l" ] || { [ -n "$leader" ] && [ "$l" != "$leader" ]; }; then
				all=0
				break
			fi
			leader=$l
		done
		[ "$all" = 1 ] && break
		if [ "$SECONDS" -ge "$deadline" ]; then
			for n in "${nodes[@]}"; do
				log "last lines of $state/node$n.log:"
				tail -n 5 "$state/node$n.log" >&2 || true
			done
			die "no leader after ${wait_leader}s; the nodes are still running ('make cluster-stop' stops them)"
		fi
		sleep 0.5
	done

	local acl_note="" curl_token=""
	if [ "$acl" = on ]; then
		acl_note="; ACLs on (default deny)"
		curl_token=' -H "X-Conclave-Token: $CONCLAVE_TOKEN"'
	fi
	cat <<EOF

conclave: 3 nodes up, leader $leader; mutual TLS and gossip encryption on$acl_note

  node   gRPC (--addr)     HTTPS                     log
EOF
	for n in "${nodes[@]}"; do
		printf '  node%s  %-16s  https://%-16s  %s\n' "$n" "$(grpc_addr "$n")" "$(http_addr "$n")" "$state/node$n.log"
	done
	cat <<EOF

Every door wants the client certificate. Load it into your shell first:
  . $envfile

EOF
	if [ "$acl" = on ]; then
		cat <<EOF
ACLs are on: every call but health needs a token. Make the management token
(once; keep its SecretID) and give it to the CLI and curl (docs/acl.md):
  $bin acl bootstrap
  export CONCLAVE_TOKEN=<SecretID>

EOF
	fi
	cat <<EOF
Then talk to any node (the CLI defaults to 127.0.0.1:7940, or \$CONCLAVE_ADDR):
  $bin members
  $bin raft status -o json
  $bin kv put greeting hello --addr $(grpc_addr 2)
  $bin kv get greeting --addr $(grpc_addr 3)
  $bin service run api --endpoint 127.0.0.1:8080 -- sleep 600 &
  dig @127.0.0.1 -p 8600 api.service.conclave SRV    # DNS of node1 (node2 8601, node3 8602)
  curl -s --cacert \$CONCLAVE_CACERT --cert \$CONCLAVE_CLIENT_CERT --key \$CONCLAVE_CLIENT_KEY$curl_token https://$(http_addr 1)/metrics | grep ^conclave_raft

Stop with 'make cluster-stop'; 'make cluster-clean' also deletes $state/.
EOF
}

stop() {
	# SIGTERM all nodes at once, then wait: each one's graceful stop (hand
	# off leadership, leave gossip, flush Raft) runs in parallel, and none
	# of them needs the others to finish first.
	local n pid i pids=() names=()
	for n in "${nodes[@]}"; do
		if pid=$(running "$n"); then
			log "stopping node$n (pid $pid)"
			kill -TERM "$pid" 2>/dev/null || true
			pids+=("$pid")
			names+=("node$n")
		fi
		rm -f "$(pidfile "$n")"
	done
	for ((i = 0; i < wait_stop * 10; i++)); do
		local alive=0
		for pid in "${pids[@]}"; do
			alive "$pid" && alive=1
		done
		[ "$alive" = 0 ] && return 0
		sleep 0.1
	done
	for i in "${!pids[@]}"; do
		if alive "${pids[$i]}"; then
			log "${names[$i]} did not exit within ${wait_stop}s of SIGTERM; sending SIGKILL"
			kill -KILL "${pids[$i]}" 2>/dev/null || true
		fi
	done
}

status() {
	local n pid any=0
	for n in "${nodes[@]}"; do
		if pid=$(running "$n"); then
			echo "node$n: running (pid $pid), gRPC $(grpc_addr "$n")"
			any=1
		else
			echo "node$n: not running"
		fi
	done
	[ "$any" = 1 ] || return 0
	[ -x "$bin" ] || die "$bin not found; run 'make build'"
	use_env
	echo
	# The first node that answers; node1 normally.
	for n in "${nodes[@]}"; do
		running "$n" >/dev/null || continue
		echo "\$ $bin raft status --addr $(grpc_addr "$n")"
		if "$bin" raft status --addr "$(grpc_addr "$n")"; then
			return 0
		fi
	done
	return 1
}

case "${1:-}" in
start) start ;;
stop) stop ;;
status) status ;;
clean)
	stop
	rm -rf "$state"
	log "removed $state/"
	;;
*)
	echo "usage: $0 start|stop|status|clean" >&2
	exit 2
	;;
esac
