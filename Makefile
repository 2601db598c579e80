# Two commands on a fresh machine: `make demo` and `make test`. Everything else is a step of those.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DEPS   := $(VENV)/.deps-installed
BUILT  := $(VENV)/.core-built
COMPILED := $(VENV)/.python-compiled
PGO    := $(VENV)/.core-pgo
DEMO   := demo

.PHONY: setup build build-pgo wheel demo test test-rust test-python lint fmt bench compare fuzz clean

setup: $(COMPILED)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(DEPS): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "maturin>=1.5,<2"
	touch $@

# Installs the package (editable) with its dev extras; rebuilds the extension when any Rust
# source or build file changes.
$(BUILT): $(DEPS) Cargo.toml Cargo.lock pyproject.toml $(wildcard rust/*.rs)
	VIRTUAL_ENV=$(abspath $(VENV)) $(BIN)/maturin develop --release --extras dev -q
	touch $@

# Byte-compiles the package (editable, so it is imported from python/) whenever a module
# changes: a start-up cost that would otherwise be paid on every run where
# PYTHONDONTWRITEBYTECODE is set.
BYTE_COMPILE = $(BIN)/python -m compileall -q python/mxcp_compact && touch $(COMPILED)

$(COMPILED): $(BUILT) $(wildcard python/mxcp_compact/*.py)
	$(BYTE_COMPILE)

build: $(COMPILED)

# The profile-guided build (benches/pgo_build.sh: the extension built with the profile of dry and
# real runs; needs llvm-profdata of rustc's LLVM version). What `make compare` times and
# `make wheel` ships. It needs no plain build first, and marks the extension built so `make build`
# keeps it; a later source change rebuilds it plainly, and `make build-pgo` profiles it again.
$(PGO): $(DEPS) Cargo.toml Cargo.lock pyproject.toml $(wildcard rust/*.rs) benches/pgo_build.sh
	benches/pgo_build.sh
	touch $(BUILT) $@

build-pgo: $(PGO)
	$(BYTE_COMPILE)

# A profile-guided wheel in dist/, for `pip install` elsewhere (the .venv gets the same build).
wheel: $(DEPS)
	benches/pgo_build.sh --wheel dist
	touch $(BUILT) $(PGO)
	$(BYTE_COMPILE)

demo: $(COMPILED)
	rm -rf $(DEMO)
	$(BIN)/python benches/make_demo.py $(DEMO)
	cd $(DEMO) && ../$(BIN)/mxcp-compact log-cleanup --dry-run
	cd $(DEMO) && ../$(BIN)/mxcp-compact log-cleanup
	cd $(DEMO) && ../$(BIN)/mxcp-compact log-cleanup --json --profile production

test: test-rust test-python

test-rust:
	cargo test --quiet

test-python: $(COMPILED)
	$(BIN)/python -m pytest -q tests benches --benchmark-disable

lint: $(COMPILED)
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings
	cargo clippy --all-targets --features python -- -D warnings
	$(BIN)/ruff check python tests benches
	$(BIN)/ruff format --check python tests benches

fmt: $(COMPILED)
	cargo fmt
	$(BIN)/ruff format python tests benches
	$(BIN)/ruff check --fix python tests benches

bench: $(COMPILED)
	mkdir -p benches/results
	$(BIN)/python -m pytest benches --benchmark-only --benchmark-json=benches/results/bench.json

compare: build-pgo
	$(BIN)/python benches/compare.py --size-mb 1024 --runs 3 --no-jq --keep-data bench-data/compare

# The long property run: about a million generated lines checked against the Python reference.
fuzz: $(COMPILED)
	MXCP_FUZZ_EXAMPLES=200000 $(BIN)/python -m pytest -q tests/test_decision_property.py -k long_fuzz

clean:
	rm -rf $(VENV) target $(DEMO) bench-data benches/results dist
