# sanmob — make run (the daemon on the embedded lab), make test (everything).
SHELL := /bin/bash
GO ?= go
GOBIN ?= $(shell $(GO) env GOPATH)/bin
# staticcheck 2026.2.2; the module proxy serves it by module version only.
STATICCHECK_VERSION := v0.8.2
STATICCHECK := $(GOBIN)/staticcheck
# Alertmanager for the alert delivery end-to-end test (cmd/sanmobd); v0.28.1
# builds with this toolchain, newer ones do not.
ALERTMANAGER_VERSION := v0.28.1
ALERTMANAGER := $(GOBIN)/alertmanager
DATA_DIR ?= ./data
LISTEN ?= 127.0.0.1:8080
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

.PHONY: all build run test verify floors unit bench bench-compare fuzz clean tools screenshots

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/sanmobd ./cmd/sanmobd
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/sanmobctl ./cmd/sanmobctl

run: build
	./bin/sanmobd --lab --data-dir $(DATA_DIR) --listen $(LISTEN)

# Everything CI runs: formatting, vet, staticcheck, the floor table,
# go.mod tidiness, and every test with the race detector.
test: verify unit

unit: $(ALERTMANAGER)
	SANMOB_ALERTMANAGER=$(ALERTMANAGER) $(GO) test -race -count=1 -timeout 20m ./...

tools: $(STATICCHECK) $(ALERTMANAGER)

$(STATICCHECK):
	$(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

$(ALERTMANAGER):
	$(GO) install github.com/prometheus/alertmanager/cmd/alertmanager@$(ALERTMANAGER_VERSION)

verify: tools
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...
	$(GO) run ./internal/tools/floors
	@cp go.mod /tmp/sanmob-go.mod.$$$$ && cp go.sum /tmp/sanmob-go.sum.$$$$ && \
	  $(GO) mod tidy && \
	  if ! diff -q go.mod /tmp/sanmob-go.mod.$$$$ >/dev/null || ! diff -q go.sum /tmp/sanmob-go.sum.$$$$ >/dev/null; then \
	    git diff --no-index /tmp/sanmob-go.mod.$$$$ go.mod; \
	    cp /tmp/sanmob-go.mod.$$$$ go.mod; cp /tmp/sanmob-go.sum.$$$$ go.sum; rm -f /tmp/sanmob-go.*.$$$$; \
	    echo "go.mod/go.sum are not tidy: run 'go mod tidy'"; exit 1; \
	  fi; rm -f /tmp/sanmob-go.*.$$$$

# A PNG of each view of the web console (/ui/) in docs/screenshots, taken by
# headless chromium (apt-get install -y chromium) against a lab sanmobd.
screenshots:
	SANMOB_SCREENSHOTS=$(CURDIR)/docs/screenshots $(GO) test -count=1 -run '^TestScreenshots$$' ./server/ui

# Imports only go down the floors of docs/architecture.md; only the wiring
# imports drivers (internal/tools/floors/table.go holds the table).
floors:
	$(GO) run ./internal/tools/floors

# The figures recorded in BENCHMARKS.md.
bench:
	./scripts/bench.sh

# Issue 9's before/after figures: bb634ca (in ../wt-old) against this tree,
# alternating, in one run.
bench-compare:
	./scripts/bench-compare.sh

# Short fuzzing runs of every parser.
FUZZTIME ?= 20s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./fabric/wwn/
	$(GO) test -run '^$$' -fuzz '^FuzzCreateBodies$$' -fuzztime $(FUZZTIME) ./server/
	$(GO) test -run '^$$' -fuzz '^FuzzConfigFile$$' -fuzztime $(FUZZTIME) ./cmd/sanmobd/
	$(GO) test -run '^$$' -fuzz '^FuzzZoneName$$' -fuzztime $(FUZZTIME) ./fabric/
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeZoneDB$$' -fuzztime $(FUZZTIME) ./fabric/brocade/
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeLogins$$' -fuzztime $(FUZZTIME) ./fabric/brocade/
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeErrors$$' -fuzztime $(FUZZTIME) ./fabric/brocade/
	$(GO) test -run '^$$' -fuzz '^FuzzFastDecode$$' -fuzztime $(FUZZTIME) ./inventory/

clean:
	rm -rf bin $(DATA_DIR)
