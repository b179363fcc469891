# The two commands a newcomer needs: `make demo` and `make test`. Everything else is set up
# on demand by scripts/setup.sh (idempotent, quick when already done).
SHELL := /bin/bash
export BERTFLOW_VENV ?= $(CURDIR)/.venv
export PATH := $(BERTFLOW_VENV)/bin:$(PATH)
CARGO ?= cargo
# Binaries land here (CI points CARGO_TARGET_DIR outside the clone to build incrementally).
TARGET_DIR := $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)
PIPELINE := $(TARGET_DIR)/debug/pipeline
# Cargo's own progress stays visible (no -q): a first build is long and must not look hung.
FIRST_BUILD_NOTE = @echo "[make] $(1): a first build compiles polars, tch (libtorch) and tokenizers, about $(2) on 2 cores from a fresh clone; cargo shows its progress below. Later runs rebuild only what changed." >&2

.PHONY: setup build build-pipeline demo demo-template test lint bench fixtures clean doctor

setup:
	@scripts/setup.sh

build: setup
	$(CARGO) build --workspace --all-targets

build-pipeline: setup
	$(call FIRST_BUILD_NOTE,make demo,20 min)
	$(CARGO) build -p pipeline

doctor: build-pipeline
	$(PIPELINE) doctor

# The embedded demo: WNUT-17 (real tweets, vendored in data/wnut17) fine-tuned from the
# pretrained MiniLM for a short run, evaluated, compared with the classical baselines and
# reflected on. `make demo-template` runs the fast template-data demos instead.
demo: build-pipeline
	$(PIPELINE) run pipelines/demo.toml

demo-template: build-pipeline
	$(PIPELINE) run pipelines/demo-template.toml
	$(PIPELINE) run pipelines/demo-sentiment.toml

lint: setup
	$(call FIRST_BUILD_NOTE,make test,35 min for lint and tests)
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

test: lint
	$(CARGO) test --workspace --no-fail-fast

# Benchmarks against the Python peers; results land in bench-results/*.md.
bench: setup
	@SETUP_PEERS=1 scripts/setup.sh
	@scripts/bench/run_all.sh

# Regenerate the reference fixtures with the Python libraries they must match.
fixtures: setup
	@SETUP_PEERS=1 scripts/setup.sh
	@for f in scripts/fixtures/*/make_*.py; do echo "== $$f"; $(BERTFLOW_VENV)/bin/python "$$f" || exit 1; done

clean:
	$(CARGO) clean
	rm -rf artifacts
