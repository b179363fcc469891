# The two commands a newcomer needs: `make demo` and `make test`. Everything else is set up
# on demand by scripts/setup.sh (idempotent, quick when already done).
SHELL := /bin/bash
export BERTFLOW_VENV ?= $(CURDIR)/.venv
export PATH := $(BERTFLOW_VENV)/bin:$(PATH)
CARGO ?= cargo
PIPELINE := $(CARGO) run -q -p pipeline --

.PHONY: setup build demo test lint bench fixtures clean doctor

setup:
	@scripts/setup.sh

build: setup
	$(CARGO) build --workspace --all-targets

doctor: setup
	$(PIPELINE) doctor

# The embedded demo: financial-news NER and financial sentiment, each fine-tuned from the
# pretrained MiniLM, evaluated, compared with the classical baselines and reflected on.
demo: setup
	$(PIPELINE) run pipelines/demo.toml
	$(PIPELINE) run pipelines/demo-sentiment.toml

lint: setup
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
