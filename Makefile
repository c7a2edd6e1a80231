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
# Bound on the whole `go test` run; CI's budget is 15 minutes on 2 cores.
TEST_TIMEOUT ?= 12m
# Extra flags for `go test`, e.g. `make test TESTFLAGS='-run TestBootstrap -v'`.
TESTFLAGS ?=
# Benchmark selection and duration: `make bench BENCH=KV BENCHTIME=5s`.
BENCH     ?= .
BENCHTIME ?= 1s

.PHONY: help run build test bench proto fmt lint vet clean \
	cluster cluster-stop cluster-status cluster-clean failover

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z][a-z-]*:.*## / {printf "  make %-15s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

run: ## run a single dev node (bootstrap_expect 1, gRPC :7940, HTTP :7941, throwaway data dir)
	$(GO) run $(PKG) agent --dev

# CGO off: a static binary that runs on any Linux host of the architecture.
build: ## build bin/conclave
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN) $(PKG)

# go test's own "ok"/"FAIL" lines are the last thing printed (CI reads them),
# so the timing note comes first. The race detector needs cgo and therefore
# a C compiler (gcc); .ci/run installs one on a bare machine.
test: ## go vet, then every test with -race
	@echo "==> go vet ./..."
	@$(GO) vet ./...
	@echo "==> go test -race -count=1 -timeout $(TEST_TIMEOUT) ./...   (started $$(date +%H:%M:%S), $$(nproc 2>/dev/null || echo '?') CPUs)"
	@CGO_ENABLED=1 $(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) $(TESTFLAGS) ./...

# -run '^$$' skips the tests; packages without benchmarks just print "ok".
bench: ## run the benchmarks (none yet in most packages)
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchtime $(BENCHTIME) -benchmem ./...

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

cluster: build ## start three local agents from deploy/local/ and wait for a leader
	bash scripts/cluster.sh start

cluster-stop: ## stop the local agents (SIGTERM, then wait)
	bash scripts/cluster.sh stop

cluster-status: ## print the local cluster's Raft status
	bash scripts/cluster.sh status

cluster-clean: ## stop the local agents and delete .cluster/ (data and logs)
	bash scripts/cluster.sh clean

failover: build ## measure formation, kill -9 failover and recovery on the local cluster
	bash scripts/failover.sh
