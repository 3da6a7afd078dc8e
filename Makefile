# filegate: `make run` for the demo, `make test` for every test.
SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(PATH)
GO ?= go

.PHONY: all build test chaos run stop bench deps

all: build

build:
	$(GO) build -o bin/authz ./authz
	$(GO) build -o bin/uploader ./uploader

deps:
	.ci/deps --browser

# Unit, integration (real PostgreSQL and Redis), end-to-end through a real
# nginx, and the browser test in headless Chromium.
test: deps
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 15m ./...

# The long checks, apart from `make test` (docs/reliability.md): the
# model-checked load for five minutes, the fault tests, then the tests
# built with the chaos tag.
chaos:
	.ci/deps
	FILEGATE_LOAD_DURATION=5m $(GO) test -count=1 -timeout 20m -v -run '^(TestLoad|TestFault.*)$$' ./internal/e2e/
	$(GO) test -count=1 -timeout 10m -v -tags chaos -run '^TestChangeSurvivesClientDrop$$' ./internal/e2e/

# Starts nginx, authz and the uploader on http://127.0.0.1:8080 with demo
# users and files; `make stop` stops them. `make run STORAGE=s3` keeps the
# files in a bucket of a local versitygw instead.
run: build
	.ci/deps
	STORAGE=$(STORAGE) .ci/dev up

stop:
	.ci/dev down

# One run of every measurement, side by side (under 5 minutes; .ci/deps
# installs wrk when missing); writes bench/results.md, which
# docs/performance.md reads.
bench:
	.ci/deps
	$(GO) run ./bench
