# StackFlow — the two commands a newcomer needs are `make demo` and `make test`.
# Every target installs what it needs into .venv first.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
STAGE  ?= dev
export STAGE
# jsii (under aws-cdk-lib) prints a full-screen end-of-life banner on Node 20; synth works the same.
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
CDK    := npx --yes aws-cdk@2

.PHONY: help install demo test check lint typecheck unit integration infra e2e \
        synth diff deploy destroy package bench clean

# `make` alone prints this list rather than installing or deploying anything.
.DEFAULT_GOAL := help

help:
	@echo "StackFlow: a Lambda-native deployer and PostgreSQL migration patcher (README.md)."
	@echo "Each target below creates .venv and installs what it needs first (not clean)."
	@echo ""
	@echo "make demo      local mode: embedded PostgreSQL + moto + the synthesized state machine"
	@echo "make test      lint, type-check and every test tier"
	@echo "make check     lint + types only (make lint | make typecheck)"
	@echo "make unit | integration | infra | e2e   one test tier"
	@echo "make synth     synthesize the CDK app into cdk.out/ (no AWS account needed)"
	@echo "make diff | deploy | destroy   CDK against a real account (STAGE=dev|staging|prod)"
	@echo "make package   build the reproducible Lambda zips into dist/"
	@echo "make bench     speed and cold-start benchmarks"
	@echo "make install   only create .venv and install (pip install -e '.[dev]')"
	@echo "make clean     remove cdk.out, dist, .stackflow (local mode data) and caches; keeps .venv"
	@echo ""
	@echo "Then: .venv/bin/stackflow --help (the CLI), docs/ for each part."

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ required"'
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Synthesizes only when cdk.out/ lacks this stage or is older than anything that shapes
# the template (synthesis with cdk-nag is most of the demo's CPU time).
demo: $(STAMP)
	@if [ ! -f cdk.out/stackflow-$(STAGE).template.json ] || [ -n "$$(find infra functions tools/stackflow_tools/release \
	    migrations dist cdk.json pyproject.toml -newer cdk.out/manifest.json \
	    -not -path '*/__pycache__*' -not -path '*.egg-info*' -print 2>/dev/null | head -1)" ]; \
	then echo "$(BIN)/python -m infra.app"; $(BIN)/python -m infra.app; \
	else echo "cdk.out/ is up to date (make synth to force)"; fi
	$(BIN)/stackflow local demo

check: lint typecheck

lint: $(STAMP)
	$(BIN)/ruff check functions tools infra tests bench

typecheck: $(STAMP)
	$(BIN)/mypy functions tools infra tests bench

test: check
	$(BIN)/pytest -q

unit: $(STAMP)
	$(BIN)/pytest -q tests/unit

integration: $(STAMP)
	$(BIN)/pytest -q tests/integration

infra: $(STAMP)
	$(BIN)/pytest -q tests/infra

e2e: $(STAMP)
	$(BIN)/pytest -q tests/e2e

synth: $(STAMP)
	$(BIN)/python -m infra.app

diff: $(STAMP)
	$(CDK) diff --app "$(BIN)/python -m infra.app" --all

deploy: $(STAMP)
ifeq ($(STAGE),prod)
	$(CDK) deploy --app "$(BIN)/python -m infra.app" --require-approval any-change --all
else
	$(CDK) deploy --app "$(BIN)/python -m infra.app" --all
endif

destroy: $(STAMP)
	$(CDK) destroy --app "$(BIN)/python -m infra.app" --all

# LAMBDA_PYTHON / LAMBDA_ARCH override the runtime infra/assets.py declares (the default).
package: $(STAMP)
	$(BIN)/python -m stackflow_tools.release.package $(if $(LAMBDA_PYTHON),--python-version $(LAMBDA_PYTHON)) $(if $(LAMBDA_ARCH),--arch $(LAMBDA_ARCH))

bench: $(STAMP)
	$(BIN)/python -m bench.migrate_overhead
	$(BIN)/python -m bench.cold_start

clean:
	rm -rf cdk.out dist build .pytest_cache .mypy_cache .ruff_cache .stackflow
