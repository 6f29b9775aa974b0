# make test is the test command of the README and of CI (.ci/run).
GO ?= go
BIN ?= bin

.PHONY: test deps build run fmt-check

test: deps fmt-check
	$(GO) vet ./...
	CGO_ENABLED=1 $(GO) test -race -count=1 -timeout 12m ./...

# deps installs what the tests need on a fresh Debian machine with Go and
# uses what is already there: the race detector needs a C compiler, the
# Redis token store's tests a redis-server (tokenstore/redistest).
deps:
	@command -v gcc >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq gcc libc6-dev; }
	@command -v redis-server >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq redis-server; }

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/authserver ./cmd/authserver

run:
	$(GO) run ./cmd/authserver
