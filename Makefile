# clnd — the two commands that matter are `make run` and `make test`.
GO ?= go
FUZZTIME ?= 10s
ADDR ?= :8080

.PHONY: run build test generate bench bench-go graphiql vet fmt

## run: build and serve on http://localhost:8080 with the embedded SQLite database, sandbox mode and demo data
run: build
	./bin/clnd serve --sandbox --demo --database-url sqlite://./data/clnd.db --addr $(ADDR)

## build: compile bin/clnd (-v names each package it compiles: none when nothing changed, a few
## hundred on a cold cache, where Go also prints "go: downloading" for each module it fetches)
build:
	@echo "building bin/clnd: the first build downloads and compiles the dependencies (a few minutes); later ones take seconds"
	$(GO) build -v -buildvcs=auto -o bin/clnd ./cmd/clnd

## test: every test; PostgreSQL tests start a throwaway server or skip loudly without one
test:
	@if [ -z "$$TEST_DATABASE_URL" ] && ! command -v initdb >/dev/null 2>&1 \
		&& ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
		echo "*** PostgreSQL not found: every PostgreSQL test will be SKIPPED (install postgresql or set TEST_DATABASE_URL) ***"; fi
	$(GO) test -count=1 -timeout 20m ./...
	@echo "fuzzing the request path: $(FUZZTIME) per fuzz test (make test FUZZTIME=30s for longer)"
	$(GO) test -run '^$$' -fuzz '^FuzzQueryChecks$$' -fuzztime $(FUZZTIME) -parallel 2 ./internal/server/
	$(GO) test -run '^$$' -fuzz '^FuzzHTTPRequest$$' -fuzztime $(FUZZTIME) -parallel 2 ./internal/server/

## generate: entc (ent + ent.graphqls), then gqlgen
generate:
	$(GO) generate ./ent
	$(GO) run github.com/99designs/gqlgen generate

## bench: the read table (W1–W3, clnd ÷ hand-written SQL) and the check-in table (B3: lean endpoint and GraphQL
## check-ins ÷ single-row UPDATEs) on PostgreSQL (docs/performance.md; ~5 min; BENCH_FLAGS="--only checkins" for
## the check-in table alone (~1 min), "--rounds 5 --duration 5s --scale 1 --as operator" and the like change it)
bench: build
	./bin/clnd bench $(BENCH_FLAGS)

## bench-go: the Go benchmarks: check-in batching, subscriber fan-out, ... (docs/operations.md#benchmarks)
bench-go:
	$(GO) test -run '^$$' -bench . -benchtime 1x ./...

## graphiql: rebuild the embedded GraphiQL bundle from its lockfile (needs npm)
graphiql:
	cd internal/server/graphiql && npm ci && npm run build

vet:
	$(GO) vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go')
