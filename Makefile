# Tandem — build, test and demo entry points. `make demo` and `make test`
# install what they need themselves (scripts/deps.sh).
SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/tandemlb/tandem/shared/version.Version=$(VERSION)
GOFLAGS_BUILD := -trimpath -ldflags '$(LDFLAGS)'
export CGO_ENABLED := 0
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.7.0

BINARIES := bin/tandem-director bin/tandem-bgp-speaker bin/tandem-backend

.PHONY: all deps build test test-unit test-fuzz test-netns test-vm lint demo bench fuzz clean
all: build

deps:
	@scripts/deps.sh

build: $(BINARIES)
bin/tandem-director: FORCE
	$(GO) build $(GOFLAGS_BUILD) -o $@ ./director/cmd/tandem-director
bin/tandem-bgp-speaker: FORCE
	$(GO) build $(GOFLAGS_BUILD) -o $@ ./director/cmd/tandem-bgp-speaker
bin/tandem-backend: FORCE
	$(GO) build $(GOFLAGS_BUILD) -o $@ ./backend/cmd/tandem-backend
FORCE:

# All three levels. Each level prints its own go test summary.
test: deps build lint
	$(MAKE) test-unit
	$(MAKE) test-fuzz
	$(MAKE) test-netns
	$(MAKE) test-vm
	@echo "make test: unit, netns and vm levels passed"

# Unit: no root, no network. Privileged tests say they are skipped and why.
test-unit:
	$(GO) test -count=1 ./...

# netns: root on this kernel; tests named TestNetns*.
test-netns: build
	TANDEM_TEST_NETNS=1 TANDEM_BIN=$(CURDIR)/bin $(GO) test -count=1 -p 1 -run 'Netns' ./...

# vm: the real ip_vs kernel under QEMU; tests named TestVM* boot the guest once per test binary.
test-vm: build
	TANDEM_TEST_VM=1 TANDEM_BIN=$(CURDIR)/bin $(GO) test -count=1 -p 1 -timeout 60m -run 'VM' ./e2e/...

lint:
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go'; git ls-files -o --exclude-standard '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) run $(STATICCHECK) ./...

# Every fuzz target for 60 s (FUZZTIME=...). make test runs each for a fixed
# count of inputs: a wall-clock -fuzztime under load can end with the
# engine's own "context deadline exceeded" while it minimises an input.
fuzz:
	FUZZTIME=$${FUZZTIME:-60s} scripts/fuzz.sh
test-fuzz:
	FUZZTIME=$${FUZZTIME:-100000x} scripts/fuzz.sh

# The demo (e2e/cmd/demo): two tandem-directors from the seed's
# keepalived.conf, two tandem-backend real servers, a sorry server and a
# client, through seven narrated steps; in the ip_vs VM when this kernel has
# no ip_vs, else directly in network namespaces. Root; about 1 min.
demo: deps build
	$(GO) run ./e2e/cmd/demo -bin $(CURDIR)/bin

clean:
	rm -rf bin dist

# --- Packages (packaging/, systemd/; docs/packaging.md) ---
# .deb and .rpm of both daemons into dist/ with nfpm; the version comes from
# git describe (packaging/version.sh) unless PKG_VERSION=... is given.
.PHONY: packages test-vm-packages
packages: build
	packaging/build.sh $(if $(PKG_VERSION),-v $(PKG_VERSION)) -o $(CURDIR)/dist -b $(CURDIR)/bin

# The packaging tests (lintian, rpmlint, contents) read the packages from
# TANDEM_DIST; the root-only RPM --root install runs at the netns level and
# the systemd install tests in the VM (packaging/vmtest).
test-unit test-netns: packages
test-unit test-netns test-vm-packages: export TANDEM_DIST = $(CURDIR)/dist
test-vm: test-vm-packages
test-vm-packages: packages
	TANDEM_TEST_VM=1 TANDEM_BIN=$(CURDIR)/bin $(GO) test -count=1 -p 1 -timeout 40m -run 'VM' ./packaging/vmtest/

# --- Failover benchmark (e2e/bench/failover; docs/benchmarks-failover.md) ---
# Root, netns only. Prints the table and rewrites the doc; fails only when a
# scenario fails (VIP never back, two masters), not on timing.
BENCH_RUNS ?= 5
.PHONY: bench-failover
bench-failover: build
	$(GO) build -o bin/bench-failover ./e2e/bench/failover
	@mkdir -p $(CURDIR)/docs/data
	bin/bench-failover -runs $(BENCH_RUNS) -binary $(CURDIR)/bin/tandem-director -out $(CURDIR)/docs/benchmarks-failover.md \
	  -json $(CURDIR)/docs/data/failover-bench.json

# --- Reconcile benchmark (e2e/bench/reconcile; docs/benchmarks-reconcile.md) ---
# Root and qemu-system-x86: boots the ip_vs guest once (about 2 min under TCG
# with 5 runs) and times keepalived and tandem-director loading 1,000 × 10
# from empty and applying one changed weight, with ipvsadm and the lvs
# library as references. Prints the table and rewrites the doc; fails only
# when a scenario fails (entries never all there, a wrong table, a weight
# never seen), not on timing. Not part of `make test-vm`.
BENCH_RUNS ?= 5
.PHONY: bench-reconcile
bench-reconcile: build
	TANDEM_BENCH=1 TANDEM_TEST_VM=1 TANDEM_BIN=$(CURDIR)/bin TANDEM_BENCH_RUNS=$(BENCH_RUNS) \
	  $(GO) test -count=1 -v -timeout 45m -run '^TestVMBenchReconcile$$' ./e2e/bench/reconcile/

# --- Operations and resources benchmark (e2e/bench/ops; docs/benchmarks-ops.md) ---
# Root and qemu-system-x86: boots the ip_vs guest once (about half an hour
# under TCG with 5 runs): drain and unhealthy -> out under load, keepalived
# with the seed's keepalived.conf against tandem-director + tandem-backend,
# and RSS/CPU idle and under 1,000 agent heartbeats/s. Rewrites
# docs/benchmarks-ops.md and .json; fails only when a scenario fails.
.PHONY: bench-ops bench-summary
bench-ops: build
	TANDEM_BENCH=1 TANDEM_TEST_VM=1 TANDEM_BIN=$(CURDIR)/bin TANDEM_BENCH_RUNS=$(BENCH_RUNS) \
	  $(GO) test -count=1 -v -timeout 90m -run '^TestVMBenchOps$$' ./e2e/bench/ops/

# --- Heartbeat scale benchmark (e2e/bench/scale; docs/benchmarks-scale.md) ---
# Root, netns only (about 3 min): tandem-director's CPU, RSS, reports
# answered and reply latency for 0, 100, 1,000 and 10,000 agents at 1
# report/s, the director on the recording IPVS fake (this kernel has no
# ip_vs; the page says so). Rewrites the page; fails only when a row cannot
# be measured, not on the figures.
.PHONY: bench-scale
bench-scale:
	TANDEM_BENCH=1 TANDEM_TEST_NETNS=1 $(GO) test -count=1 -v -timeout 15m -run '^TestNetnsBenchScale$$' ./e2e/bench/scale/

# docs/benchmarks.md: the headline rows of the three pages (e2e/bench/cmd/summary).
bench-summary:
	$(GO) run ./e2e/bench/cmd/summary -docs $(CURDIR)/docs

# Every benchmark, then the figures and the summary page (make docs).
bench: bench-failover bench-reconcile bench-ops bench-scale
	$(MAKE) docs

# --- Figures of the docs (e2e/cmd/plots; docs/plots/*.gp -> docs/img/*.png) ---
# Each figure drawn with gnuplot (Debian's gnuplot-nox, scripts/deps.sh) from
# its files in docs/data: the lab's Prometheus range queries (the VM
# scenario, TANDEM_PLOT_DATA) and docs/data/failover-bench.json
# (bench-failover). A figure whose data file is missing is skipped with a
# message naming the file, and its block in the pages stays empty. Then
# docs/benchmarks.md, which shows the figures that exist.
.PHONY: docs
docs:
	$(GO) run ./e2e/cmd/plots -docs $(CURDIR)/docs
	$(MAKE) bench-summary
