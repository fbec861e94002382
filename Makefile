# Development targets. `make test` is what CI runs (.ci/run).

SHELL := bash
.SHELLFLAGS := -euo pipefail -c

GO ?= go

# Packages with fuzz targets, and how long `make test` runs each target: a
# count of inputs (about 4 s each on 2 cores), not a duration, because Go
# 1.26's fuzz coordinator can fail a target with "context deadline exceeded"
# when a duration ends while a worker is busy (golang/go#75804, fixed in Go
# 1.27); a count has no deadline. FUZZTIME=10m works too.
FUZZ_PKGS ?= . ./engines/postgres ./engines/mysql ./engines/sqlserver ./engines/oracle
FUZZTIME ?= 20000x

# staticcheck (honnef.co/go/tools), pinned: `make test` builds it once into
# bin/ (about a minute on 2 cores; v0.8.x needs Go 1.26 to build) with go
# install, which leaves every go.mod of the repository alone, and runs it on
# each module of STATICCHECK_MODULES that exists. Checks disabled for the
# repository are in staticcheck.conf, each with its reason.
STATICCHECK_VERSION ?= v0.8.2
STATICCHECK := bin/staticcheck-$(STATICCHECK_VERSION)
STATICCHECK_MODULES ?= . examples otel tools/charts vault

.PHONY: test

# test prepares the local PostgreSQL and MariaDB (scripts/testbed.sh, as
# root), vets, then runs every test with the race detector, one package at a
# time (-p 1): the connect storms and rotations under load use most of each
# server's max_connections, so packages must not share the servers. go test -json is
# summarised by scripts/testsummary: failed tests in full, skipped tests with
# their reason, counts per package, then go test's own ok/FAIL lines.
test:
	bash scripts/testbed.sh
	bash scripts/awscli.sh # the AWS CLI v2 that the secretsql command's conformance tests (internal/cli) drive
	bash scripts/vaultserver.sh # the Vault server vault/vaulttest runs (built once into a cache; minutes the first time)
	$(GO) vet ./...
	$(MAKE) --no-print-directory staticcheck
	$(GO) build -o bin/testsummary ./scripts/testsummary
	$(GO) test -race -count=1 -run '^$$' ./... >/dev/null # compile every test binary in parallel first
	$(GO) test -race -count=1 -p 1 -timeout 20m -json ./... 2>&1 | bin/testsummary
	@# examples/ is its own module (heavy dependencies: go-mysql-server, gorm, ent, bun, sqlx)
	cd examples && $(GO) vet ./... && $(GO) test -race -count=1 -p 1 -timeout 20m -json ./... 2>&1 | ../bin/testsummary
	@# otel/ (OpenTelemetry) and tools/charts/ (gonum/plot) are modules of their own, keeping those out of go.mod
	cd otel && $(GO) vet ./... && $(GO) test -race -count=1 -p 1 -timeout 10m -json ./... 2>&1 | ../bin/testsummary
	@# vault/ (HashiCorp Vault's API client) is a module of its own too; its tests run the server scripts/vaultserver.sh built
	cd vault && $(GO) vet ./... && $(GO) test -race -count=1 -p 1 -timeout 10m -json ./... 2>&1 | ../bin/testsummary
	cd tools/charts && $(GO) vet ./... && $(GO) test -race -count=1 -timeout 10m -json ./... 2>&1 | ../../bin/testsummary
	@# fuzz: every Fuzz target of FUZZ_PKGS for FUZZTIME each, one per invocation (docs/TESTING.md).
	@# Without -race: the seed corpora already ran under -race above, the targets are
	@# single-goroutine parsers, and -race makes fuzzing about 30 times slower, so that
	@# in FUZZTIME most targets do not get past replaying their cached corpus.
	for pkg in $(FUZZ_PKGS); do \
		for t in $$($(GO) test -list '^Fuzz' "$$pkg" | grep '^Fuzz'); do \
			$(GO) test -run='^$$' -fuzz="^$$t\$$" -fuzztime=$(FUZZTIME) "$$pkg"; \
		done; \
	done

# staticcheck runs the pinned staticcheck on every module of
# STATICCHECK_MODULES that has a go.mod (a missing one is reported and
# skipped), all of them even when one has findings, and fails if any had.
.PHONY: staticcheck
staticcheck: $(STATICCHECK)
	@status=0; \
	for m in $(STATICCHECK_MODULES); do \
		if [[ ! -f $$m/go.mod ]]; then echo "staticcheck: $$m: no go.mod, skipped"; continue; fi; \
		echo "staticcheck: $$m"; \
		(cd "$$m" && $(abspath $(STATICCHECK)) ./...) || status=1; \
	done; \
	exit $$status

# The binary is named for its version, so changing STATICCHECK_VERSION builds
# the new one. GOBIN is a directory of its own: go install names the binary
# staticcheck, and a failed build must leave no file that make would take for
# a finished one.
$(STATICCHECK):
	rm -rf bin/.staticcheck
	GOBIN=$(abspath bin/.staticcheck) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	mv bin/.staticcheck/staticcheck $@
	rmdir bin/.staticcheck

# bench prepares the test bed, then runs the macro benchmark suite
# (internal/bench) against the local PostgreSQL and MariaDB with the smtest
# emulator: it prints a Markdown report and writes BENCHOUT/BENCHMARKS.md and
# BENCHOUT/benchmarks.json (about 4.5 minutes: the last run took 270 s, of
# which the drills' load, 2 engines × 4 approaches × 26 s, is 208 s), then
# draws each rotation drill's timeline as BENCHOUT/charts/*.svg with
# tools/charts (its own module: gonum/plot stays out of go.mod). Flags go in
# BENCHFLAGS, e.g. BENCHFLAGS='-engines postgres -drill-windows 2s'; see
# `go run ./internal/bench/cmd/secretsql-bench -h`. The micro benchmarks:
# go test -run '^$' -bench . -benchmem . ./engines/postgres ./engines/mysql
.PHONY: bench
BENCHFLAGS ?=
BENCHOUT ?= docs
bench:
	bash scripts/testbed.sh
	$(GO) run ./internal/bench/cmd/secretsql-bench -out $(BENCHOUT) $(BENCHFLAGS)
	cd tools/charts && $(GO) run ./cmd/benchcharts -in $(abspath $(BENCHOUT))/benchmarks.json
