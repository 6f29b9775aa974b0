# make test is the test command of the README and of CI (.ci/run).
GO ?= go
BIN ?= bin
# FUZZTIME is how long each fuzz target runs: briefly in make test, longer
# in make fuzz.
FUZZTIME ?= 3s
FUZZ_TARGETS = FuzzParseForm FuzzClientCredentials FuzzParseRefreshToken FuzzBearerToken

.PHONY: test deps build run fmt-check rules-check fuzz fuzz-run

test: deps fmt-check rules-check
	$(GO) vet ./...
	CGO_ENABLED=1 $(GO) test -race -count=1 -timeout 12m ./...
	$(MAKE) --no-print-directory fuzz-run FUZZTIME=$(FUZZTIME)

# deps installs what the tests need on a fresh Debian machine with Go and
# uses what is already there: the race detector needs a C compiler, the
# Redis token store's tests a redis-server (tokenstore/redistest), the rule
# checks promtool and cmd/authserver's Prometheus test a prometheus server
# (both in the Debian package prometheus), and the CLI test runs the curl
# command the server prints.
APT_GET = DEBIAN_FRONTEND=noninteractive apt-get
deps:
	@missing=""; \
	command -v gcc >/dev/null 2>&1 || missing="$$missing gcc libc6-dev"; \
	command -v redis-server >/dev/null 2>&1 || missing="$$missing redis-server"; \
	command -v curl >/dev/null 2>&1 || missing="$$missing curl"; \
	{ command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1; } || missing="$$missing prometheus"; \
	if [ -n "$$missing" ]; then $(APT_GET) update -qq && $(APT_GET) install -y -qq --no-install-recommends $$missing; fi

# rules-check checks the Prometheus configuration and its alert rules, and
# runs the rules' unit tests (promtool resolves rule_files relative to the
# file that names them).
rules-check: deps
	promtool check config deploy/prometheus/prometheus.yml
	promtool check rules deploy/prometheus/alerts.yml
	promtool test rules deploy/prometheus/alerts_test.yml

# fuzz runs every fuzz target of the server's parsers for a minute each.
fuzz:
	$(MAKE) --no-print-directory fuzz-run FUZZTIME=60s

fuzz-run:
	@for target in $(FUZZ_TARGETS); do \
		$(GO) test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) ./server/ || exit 1; \
	done

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/authserver ./cmd/authserver

run:
	$(GO) run ./cmd/authserver
