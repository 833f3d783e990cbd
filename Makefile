# fanfare-go — every target works on a fresh machine with Go installed.
# `make test` is the command the README names and CI runs.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

# Every module of the workspace (go.work), or just the root without one.
MODULES := $(shell go list -m -f '{{.Dir}}' 2>/dev/null)
FUZZTIME ?= 5s
STATICCHECK_VERSION ?= v0.8.2

.PHONY: test test-core fuzz fuzz-short staticcheck bench demo browser load reliability

## test: go vet and go test -race for every module; stops at the first failure.
test:
	@for m in $(MODULES); do \
		echo "== $$m"; \
		(cd "$$m" && go vet ./... && go test -race -count=1 ./...) || exit 1; \
	done

## test-core: go vet and go test -race for the root module alone: what a
## user of net/http pulls in, without the adapters, Redis or the benchmarks.
test-core:
	go vet . ./fanfaretest/... ./storetest/... ./limitertest/... ./internal/... ./cmd/...
	go test -race -count=1 . ./fanfaretest/... ./storetest/... ./limitertest/... ./internal/... ./cmd/...

## fuzz: run every fuzz target for $(FUZZTIME) each.
fuzz:
	@for m in $(MODULES); do \
		cd "$$m"; \
		for pkg in $$(go list ./...); do \
			dir=$$(go list -f '{{.Dir}}' $$pkg); \
			for t in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go 2>/dev/null | sed 's/^func //'); do \
				echo "== $$pkg $$t"; \
				go test -run='^$$' -fuzz="^$$t\$$" -fuzztime=$(FUZZTIME) $$pkg || exit 1; \
			done; \
		done; \
	done

## reliability: the fault matrix, the attack table, the leak search and the
## stress tests of reliability/, under the race detector; prints the matrix
## (SECURITY.md keeps a copy) and the number of attacks refused.
reliability:
	cd reliability && go test -race -count=1 -v ./... 2>&1 | grep -v -E '^(=== (RUN|PAUSE|CONT)|\s*--- PASS)'

## fuzz-short: every fuzz target for 3000 inputs, what .ci/run runs (24
## targets: about 1.5 minutes on 2 cores). A count, not a duration: with a
## duration, Go 1.26's fuzz coordinator can fail a target with a bare
## "context deadline exceeded" as the time runs out (golang/go#75804, fixed
## in Go 1.27); a count has no deadline to race.
fuzz-short:
	@$(MAKE) --no-print-directory fuzz FUZZTIME=3000x

## staticcheck: staticcheck every module (installed through the Go module proxy).
staticcheck:
	@command -v staticcheck >/dev/null || go install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	@for m in $(MODULES); do \
		echo "== staticcheck $$m"; \
		(cd "$$m" && "$$(command -v staticcheck || echo $$(go env GOPATH)/bin/staticcheck)" ./...) || exit 1; \
	done

## bench: the benchmark suite of ../shared/BENCHMARKS.md, side by side with the
## peers, printed as one table with a verdict per target (see bench/README.md).
bench:
	go test -run '^$$' -bench . -benchtime=1s ./bench/ | tee /dev/stderr | go run ./bench/cmd/benchtable

## load: B7 of ../shared/BENCHMARKS.md, the drop: the checkout example as its
## own process beside the guide's pattern, on loopback; one table, the
## invariants (exit 1 if one is violated) and the targets. Bounded: ≤ 5 minutes.
load:
	cd bench && go run ./cmd/load

## demo: the checkout example drives the whole flow against itself (what CI runs).
demo:
	go run ./examples/checkout -demo

## browser: the storefront of examples/checkout clicked through in headless
## Chromium (needs a chromium binary; skips without one).
browser:
	cd examples && go test -tags browser -race -count=1 -run Browser ./checkout/...
