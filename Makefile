# Folio — build, run and test. `make help` lists the targets.

GO        ?= go
BIN       := bin
NET       ?= ./folio-net
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT    ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
DATE      ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS   := -X github.com/folio-ledger/folio/internal/version.Version=$(VERSION) \
             -X github.com/folio-ledger/folio/internal/version.Commit=$(COMMIT) \
             -X github.com/folio-ledger/folio/internal/version.Date=$(DATE)
# Pinned code generators, installed with `go install` into bin/tools.
BUF_VERSION            := v1.60.0
PROTOC_GEN_GO_VERSION  := v1.36.12
CONNECT_GEN_VERSION    := v1.21.1
TOOLS     := $(abspath $(BIN)/tools)
FUZZTIME  ?= 30s

.PHONY: help build contracts demo test bench bench-release soak lint proto fuzz clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-8s %s\n", $$1, $$2}'

build: contracts ## build bin/folio and the contracts
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/folio ./cmd/folio

# contracts also refreshes the genesis contracts embedded in the folio binary
# (internal/localnet/genesiscontracts; its TestEmbeddedContractsAreCurrent fails
# when they differ from their source): commit them with the source change.
contracts: ## build the wasm contracts into build/contracts (reproducible bytes) and refresh the copies embedded in folio
	GOOS=wasip1 GOARCH=wasm $(GO) build -trimpath -buildmode=c-shared -o build/contracts/copyright.wasm ./contracts/copyright/cmd/copyright
	GOOS=wasip1 GOARCH=wasm $(GO) build -trimpath -buildmode=c-shared -o build/contracts/copyright-v2.wasm ./contracts/copyright/cmd/copyrightv2
	GOOS=wasip1 GOARCH=wasm $(GO) build -trimpath -buildmode=c-shared -o build/contracts/release.wasm ./contracts/release/cmd/release
	gzip -9 -n -c build/contracts/copyright.wasm > internal/localnet/genesiscontracts/copyright.wasm.gz
	gzip -9 -n -c build/contracts/release.wasm > internal/localnet/genesiscontracts/release.wasm.gz

demo: build ## start a local network in $(NET) and walk through the copyright scenario (leaves it running)
	NET=$(NET) ./scripts/demo.sh

test: ## run every test with the race detector (loads ../shared/testdata), and the examples module's
	./scripts/install-test-deps.sh
	$(GO) test -race -count=1 -timeout 25m ./...
	cd examples && $(GO) test -race -count=1 ./...

bench: ## run the Go benchmarks
	$(GO) test -run '^$$' -bench . -benchmem -timeout 60m ./...

bench-release: ## the timed-release fairness experiment (root, netns + tc; ~30 min; docs/release.md)
	./scripts/bench-release.sh

SOAK_CHAOS ?= 30m

soak: build ## long runs: $(SOAK_CHAOS) of folio chaos with a random seed, 300 SIGKILL recoveries of the ledger, repeated multi-process network scenarios
	./$(BIN)/folio chaos --duration $(SOAK_CHAOS) --out tmp/soak-chaos/$$(date +%Y%m%d-%H%M%S)
	FOLIO_SOAK=1 $(GO) test -race -run TestKillRecovery -timeout 60m ./internal/ledger/
	FOLIO_SOAK=1 $(GO) test -race -count=5 -timeout 120m ./test/e2e/...

lint: ## gofmt and go vet
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	GOOS=wasip1 GOARCH=wasm $(GO) vet ./contract/... ./contracts/...
	cd examples && $(GO) vet ./... && GOOS=wasip1 GOARCH=wasm $(GO) vet ./licence/...

proto: ## regenerate api/ from the .proto files (tools pinned, installed via go install)
	GOBIN=$(TOOLS) $(GO) install github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)
	GOBIN=$(TOOLS) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
	GOBIN=$(TOOLS) $(GO) install connectrpc.com/connect/cmd/protoc-gen-connect-go@$(CONNECT_GEN_VERSION)
	PATH=$(TOOLS):$$PATH $(TOOLS)/buf generate

fuzz: ## run every fuzz target for FUZZTIME and keep new corpus entries in testdata/fuzz
	./scripts/fuzz.sh $(FUZZTIME)

clean: ## remove build output (not network directories)
	rm -rf $(BIN) build
