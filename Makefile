# deces-edge: `make up` serves the API on 127.0.0.1:3000; `make test` runs every test.
SHELL := /bin/bash
CARGO ?= cargo
LISTEN ?= 127.0.0.1:3000
RUNTIME_CONFIG ?=
WASM_TARGET := wasm32-wasip2
COMPONENTS := search otp-request otp-verify rate-limit
TEST_COMPONENTS := probe
HOST_BIN := target/release/deces-edge

.PHONY: all setup build build-components build-test-components build-host up test test-under-load lint deploy-check api-fuzz api-fuzz-tool push bench bench-embedded soak clean

all: build

# Everything a fresh machine needs; each step is skipped when already done.
setup:
	@rustup target list --installed 2>/dev/null | grep -qx $(WASM_TARGET) || rustup target add $(WASM_TARGET)
	@command -v redis-server >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq redis-server; }

build: build-components build-host

build-components:
	@rustup target list --installed 2>/dev/null | grep -qx $(WASM_TARGET) || rustup target add $(WASM_TARGET)
	$(CARGO) build --target $(WASM_TARGET) --profile wasm $(addprefix -p ,$(COMPONENTS))

build-test-components:
	$(CARGO) build --target $(WASM_TARGET) --profile wasm $(addprefix -p ,$(TEST_COMPONENTS))

# The native packages, built with every target (tests included): the host binary then has
# the same dependency features as `cargo test` sees, so wasmtime is compiled once for both.
NATIVE := --workspace --exclude edge-spin $(addprefix --exclude ,$(COMPONENTS) $(TEST_COMPONENTS))
build-host:
	$(CARGO) build --release $(NATIVE) --all-targets

# Serves the application with the SQLite store beside spin.toml (or RUNTIME_CONFIG).
# A development token secret is generated under .spin/ unless one is given.
SAMPLE ?= 100000

up: build
	@mkdir -p .spin
	@test -s .spin/token_secret || { umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > .spin/token_secret; }
	@# The search database: IMPORT=<INSEE files> imports them; otherwise a synthetic sample
	@# of SAMPLE records is made and imported when the database is empty.
	$(HOST_BIN) import --manifest spin.toml $(if $(RUNTIME_CONFIG),--runtime-config-file $(RUNTIME_CONFIG)) \
	  $(if $(IMPORT),$(IMPORT),--if-empty --sample $(SAMPLE))
	SPIN_VARIABLE_TOKEN_SECRET="$${SPIN_VARIABLE_TOKEN_SECRET:-$$(cat .spin/token_secret)}" \
	  exec $(HOST_BIN) up --manifest spin.toml --listen $(LISTEN) \
	  $(if $(RUNTIME_CONFIG),--runtime-config-file $(RUNTIME_CONFIG))

test: setup deploy-check build build-test-components lint api-fuzz-tool
	$(CARGO) test --release $(NATIVE)

# schemathesis against the running host with the OpenAPI document it serves (also part of
# `make test`): every operation, a bounded number of generated requests, a fixed seed.
api-fuzz: setup build api-fuzz-tool
	$(CARGO) test --release -p e2e --test api_fuzz -- --nocapture

api-fuzz-tool:
	bash tools/api-fuzz-venv.sh

# The end-to-end suites three times (RUNS=n) with one CPU hog per core beside them.
test-under-load: setup build build-test-components
	bash tests/under-load.sh

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --release --all-targets -- -D warnings
	$(CARGO) clippy --release --target $(WASM_TARGET) $(addprefix -p ,edge-spin $(COMPONENTS) $(TEST_COMPONENTS)) -- -D warnings

# Renders every Kubernetes overlay and validates it offline (tools from PyPI, pinned).
deploy-check:
	bash deploy/check.sh

# Builds the components and prints how to publish them as an OCI artifact.
OCI_REF ?=
push:
	@test -n "$(OCI_REF)" || { echo "usage: make push OCI_REF=<registry/name:tag>" >&2; exit 2; }
	@$(MAKE) --no-print-directory build-components
	@echo "Components built. Publish them with Spin >= 3.2 (after 'spin registry login <registry>'):"
	@echo "  spin registry push $(OCI_REF)"
	@echo "then set the SpinApp image of your overlay (deploy/k8s/overlays/*/kustomization.yaml) to $(OCI_REF)."

bench: build
	bash bench/run.sh

# The embedded search backend at SIZES records (import, size, latency, memory).
bench-embedded: build
	bash bench/embedded.sh

# Not part of `make test`: 1,000,000 property cases per parser, then ten minutes of mixed
# traffic over three replicas with a fault every 30 s (SOAK_ARGS, e.g. `--minutes 2`).
SOAK_ARGS ?=
soak: setup build build-test-components
	PROPTEST_CASES=1000000 $(CARGO) test --release $(NATIVE) --test fuzz
	target/release/soak $(SOAK_ARGS)

clean:
	$(CARGO) clean
