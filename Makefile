# conclave build, test and local-cluster targets. `make help` lists them.
#
# Everything runs from the repository root. Go comes from PATH, with the
# standard install location appended so `sudo make ...` and fresh CI machines
# find it too.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

export PATH := $(PATH):/usr/local/go/bin

GO        ?= go
BIN       := bin/conclave
PKG       := ./cmd/conclave
# Version and commit stamped into the binary (`conclave version`); `=` so
# git runs only for the targets that build.
LDFLAGS    = $(shell bash scripts/ldflags.sh)
# Bound on the whole `go test` run; CI's budget is 15 minutes on 2 cores.
TEST_TIMEOUT ?= 12m
# Extra flags for `go test`, e.g. `make test TESTFLAGS='-run TestBootstrap -v'`.
TESTFLAGS ?=
# Benchmark selection and duration: `make bench BENCH=KV BENCHTIME=5s`.
# BENCHTIME is each throughput benchmark's measuring time (after its
# cluster has formed) and bounds the kills of BenchmarkLeaderKill (one kill
# plus recovery is about 0.7 s timed, 2 s with the untimed restart).
BENCH         ?= .
BENCHTIME     ?= 3s
BENCH_TIMEOUT ?= 20m
# How long `make fuzz` runs each fuzz target: `make fuzz FUZZTIME=10s`.
FUZZTIME ?= 10s
# How long `make test` fuzzes each target before the tests (about a minute
# for all of them, compiling included).
TEST_FUZZTIME ?= 2s

.PHONY: help run build test bench fuzz proto fmt lint vet clean \
	cluster cluster-stop cluster-status cluster-clean failover soak docker bench-peers bench-faults

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z][a-z-]*:.*## / {printf "  make %-15s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# Build first and run the built binary, so bin/conclave is there for the
# client commands in another terminal (README).
run: build ## build bin/conclave and run a single dev node (bootstrap_expect 1, gRPC :7940, HTTP :7941, throwaway data dir)
	$(BIN) agent --dev

# CGO off: a static binary that runs on any Linux host of the architecture.
build: ## build bin/conclave (stamped with the version and commit: bin/conclave version)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) $(PKG)

# go test's own "ok"/"FAIL" lines are the last thing printed (CI reads them),
# so the timing note comes first. The race detector needs cgo and therefore
# a C compiler (gcc); .ci/run installs one on a bare machine.
test: ## go vet, a short run of every fuzz target, then every test with -race
	@echo "==> go vet ./..."
	@$(GO) vet ./...
	@echo "==> short fuzz run: every fuzz target for $(TEST_FUZZTIME) (make fuzz runs longer)"
	@FUZZTIME=$(TEST_FUZZTIME) GO=$(GO) bash scripts/fuzz.sh
	@echo "==> go test -race -count=1 -timeout $(TEST_TIMEOUT) ./...   (started $$(date +%H:%M:%S), $$(nproc 2>/dev/null || echo '?') CPUs)"
	@CGO_ENABLED=1 $(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) $(TESTFLAGS) ./...

# internal/bench first: the DESIGN §16 benchmarks, each on a 3-node
# in-process cluster, with the physical floor (BenchmarkFloor, whose file
# sorts first) printed before them and again beside every result. Then the
# other packages that have benchmarks; packages without any are not even
# compiled. -run '^$$' skips the tests.
bench: ## run the benchmarks: floor and DESIGN §16 cluster benchmarks first, then any other package's
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchtime $(BENCHTIME) -timeout $(BENCH_TIMEOUT) ./internal/bench/
	@pkgs=$$(grep -rl --include='*_test.go' '^func Benchmark' . | xargs -r -n1 dirname | sort -u | grep -vx './internal/bench' || true); \
	if [[ -n "$$pkgs" ]]; then \
		echo "$(GO) test -run '^$$' -bench '$(BENCH)' -benchtime $(BENCHTIME) -benchmem -timeout $(BENCH_TIMEOUT)" $$pkgs; \
		$(GO) test -run '^$$' -bench '$(BENCH)' -benchtime $(BENCHTIME) -benchmem -timeout $(BENCH_TIMEOUT) $$pkgs; \
	fi

# internal/bench/peers is a module of its own (conclave never depends on
# etcd): it builds a small etcd member binary and the harness, which runs
# three etcd members and three conclave agents as processes on 127.0.0.1,
# alternately (etcd, conclave, conclave, etcd), and prints one table of the
# medians. Flags: `make bench-peers PEERS_FLAGS='-duration 10s -kills 10'`.
PEERS_FLAGS ?=
bench-peers: build ## compare conclave with etcd 3.6.16 (3 processes each on 127.0.0.1, same workloads) and print one table
	cd internal/bench/peers && CGO_ENABLED=0 $(GO) build -trimpath -o ../../../bin/peers-etcd ./etcdserver
	cd internal/bench/peers && CGO_ENABLED=0 $(GO) build -trimpath -o ../../../bin/bench-peers .
	bin/bench-peers -etcd bin/peers-etcd -conclave $(BIN) $(PEERS_FLAGS)

# The same harness under a seeded fault schedule (kill -9, pause, isolate
# one member at a time; docs/benchmarks.md "Fault schedule"), on etcd then
# on conclave. Isolation needs root and nft. Flags:
# `make bench-faults FAULTS_FLAGS='-faults 120s -seed 7'`.
FAULTS_FLAGS ?=
bench-faults: build ## etcd vs conclave under the same seeded faults (kill -9, pause, isolate): longest time with no successful call
	cd internal/bench/peers && CGO_ENABLED=0 $(GO) build -trimpath -o ../../../bin/peers-etcd ./etcdserver
	cd internal/bench/peers && CGO_ENABLED=0 $(GO) build -trimpath -o ../../../bin/bench-peers .
	bin/bench-peers -etcd bin/peers-etcd -conclave $(BIN) -faults 60s $(FAULTS_FLAGS)

# Plain `go test` (so `make test`) already runs every fuzz target's seed
# corpus (its f.Add seeds and testdata/fuzz/); this searches for new inputs.
# FUZZ=regexp picks targets; see scripts/fuzz.sh.
fuzz: ## run every fuzz target (go test -fuzz) for FUZZTIME each (default 10s), one at a time
	FUZZTIME=$(FUZZTIME) GO=$(GO) bash scripts/fuzz.sh

# The image is FROM scratch around the static binary; nothing is pulled.
IMAGE ?= conclave:dev
docker: ## build the container image (IMAGE=conclave:dev by default; FROM scratch, static binary); deploy/compose.yaml runs 3 nodes
	bash scripts/docker-build.sh $(IMAGE)

proto: ## regenerate api/conclavepb from api/proto (installs protoc if missing)
	bash scripts/gen-proto.sh

fmt: ## gofmt every Go file
	$(GO) fmt ./...

vet: ## go vet
	$(GO) vet ./...

lint: vet ## alias of vet, until a linter is chosen

clean: ## remove build outputs (not .cluster: see cluster-clean)
	rm -rf bin/
	rm -f *.out *.test

cluster: build ## start three local agents from deploy/local/ and wait for a leader (ACL=on: with ACLs, deny by default)
	CLUSTER_ACL=$(ACL) bash scripts/cluster.sh start

cluster-stop: ## stop the local agents (SIGTERM, then wait)
	bash scripts/cluster.sh stop

cluster-status: ## print the local cluster's Raft status
	bash scripts/cluster.sh status

cluster-clean: ## stop the local agents and delete .cluster/ (data and logs)
	bash scripts/cluster.sh clean

failover: build ## measure formation, kill -9 failover and recovery on the local cluster
	bash scripts/failover.sh

soak: build ## look for false elections: the local cluster idle, then under puts with every core busy (IDLE=600 LOAD=600 seconds)
	bash scripts/soak.sh
