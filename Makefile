# make test is the test command of the README and of CI (.ci/run).
GO ?= go
BIN ?= bin
# FUZZTIME is how long each fuzz target runs: briefly in make test, longer
# in make fuzz.
FUZZTIME ?= 3s
FUZZ_TARGETS = FuzzParseForm FuzzClientCredentials FuzzParseRefreshToken FuzzBearerToken

.PHONY: test deps pg-start build run fmt-check rules-check fuzz fuzz-run

test: deps pg-start fmt-check rules-check
	$(GO) vet ./...
	CGO_ENABLED=1 $(GO) test -race -count=1 -timeout 12m ./...
	$(MAKE) --no-print-directory fuzz-run FUZZTIME=$(FUZZTIME)

# deps installs what the tests need on a fresh Debian machine with Go and
# uses what is already there: the race detector needs a C compiler, the
# Redis token store's tests a redis-server (tokenstore/redistest), the rule
# checks promtool and cmd/authserver's Prometheus test a prometheus server
# (both in the Debian package prometheus), the CLI test runs the curl
# command the server prints, and the PostgreSQL user store's tests need a
# PostgreSQL server (the Debian package postgresql; see pg-start).
APT_GET = DEBIAN_FRONTEND=noninteractive apt-get
deps:
	@missing=""; \
	command -v gcc >/dev/null 2>&1 || missing="$$missing gcc libc6-dev"; \
	command -v redis-server >/dev/null 2>&1 || missing="$$missing redis-server"; \
	command -v curl >/dev/null 2>&1 || missing="$$missing curl"; \
	{ command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1; } || missing="$$missing prometheus"; \
	{ command -v pg_ctlcluster >/dev/null 2>&1 && command -v psql >/dev/null 2>&1; } || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then $(APT_GET) update -qq && $(APT_GET) install -y -qq --no-install-recommends $$missing; fi

# pg-start makes the PostgreSQL server of the tests (userstore/pgtest) answer
# at PG_URL, unless DATABASE_URL names another. It uses a server that
# already answers as it is; else it starts the newest local cluster if
# nothing listens on 127.0.0.1:5432, and if postgres still cannot connect
# without a password, as on a fresh Debian install (scram-sha-256 for TCP
# connections), it lets postgres in from 127.0.0.1 with a trust line at the
# top of pg_hba.conf and reloads the server.
PG_URL = postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable
PG_READY = psql -w -q -c 'SELECT 1' "$(PG_URL)" >/dev/null 2>&1
pg-start: deps
	@[ -n "$$DATABASE_URL" ] && exit 0; \
	$(PG_READY) && exit 0; \
	pg_isready -q -h 127.0.0.1 -p 5432 || \
		pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql | sort -V | tail -n 1) main start || exit 1; \
	if ! $(PG_READY); then \
		hba=$$(runuser -u postgres -- psql -w -p 5432 -tA -c 'SHOW hba_file') && \
		sed -i '1i host all postgres 127.0.0.1/32 trust # added by make pg-start for the tests' "$$hba" && \
		runuser -u postgres -- psql -w -p 5432 -q -c 'SELECT pg_reload_conf()' >/dev/null || exit 1; \
	fi; \
	for i in $$(seq 50); do $(PG_READY) && exit 0; sleep 0.1; done; \
	echo "pg-start: cannot connect to $(PG_URL)"; exit 1

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

# bench runs the load generator, cmd/authbench, with every scenario and
# ceiling against a fresh authserver whose token store is a throwaway
# redis-server on a free loopback port (outside the ephemeral range, and
# not answering before it starts), prints the table and writes it to
# bench.md. It takes a few minutes.
.PHONY: bench
bench:
	@command -v redis-server >/dev/null 2>&1 || { $(APT_GET) update -qq && $(APT_GET) install -y -qq --no-install-recommends redis-server; }
	@dir=$$(mktemp -d); pid=; \
	trap 'if [ -n "$$pid" ]; then kill $$pid; wait $$pid; fi 2>/dev/null; rm -rf "$$dir"' EXIT; \
	trap 'exit 130' INT TERM; \
	for try in 1 2 3 4 5; do \
		port=$$(shuf -i 20000-32767 -n 1); \
		redis-cli -p $$port ping >/dev/null 2>&1 && continue; \
		redis-server --port $$port --bind 127.0.0.1 --save '' --appendonly no --dir "$$dir" >"$$dir/redis.log" 2>&1 & pid=$$!; \
		for i in $$(seq 100); do redis-cli -p $$port ping >/dev/null 2>&1 && break; sleep 0.05; done; \
		kill -0 $$pid 2>/dev/null && redis-cli -p $$port ping >/dev/null 2>&1 && break; \
		kill $$pid 2>/dev/null; wait $$pid 2>/dev/null; pid=; \
	done; \
	if [ -z "$$pid" ]; then echo "bench: cannot start redis-server:"; cat "$$dir/redis.log" 2>/dev/null; exit 1; fi; \
	$(GO) run ./cmd/authbench --redis-url redis://127.0.0.1:$$port/0 --out bench.md all
