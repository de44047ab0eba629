# StackFlow — the two commands a newcomer needs are `make demo` and `make test`.
# Every target installs what it needs into .venv first.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEV_LOCK     := requirements/dev.txt
INSTALLER_LOCK := requirements/installer.txt
DEPLOY_LOCK  := requirements/deploy.txt
LAMBDA_LOCK  := tools/stackflow_tools/release/lambda-requirements.txt
STAGE  ?= dev
export STAGE
# jsii (under aws-cdk-lib) prints a full-screen end-of-life banner on Node 20; synth works the same.
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
CDK    := npx --yes aws-cdk@2
# The repository whose workflows may assume the CI and diff roles (owner/name); cdk.json's
# "github_repo" context works too. Until one is set, `make deploy` refuses to run.
GITHUB_REPO ?=
CDK_CONTEXT := $(if $(GITHUB_REPO),-c github_repo=$(GITHUB_REPO))
# `make diff` and `make deploy` go through the guard (docs/infra.md, "Changing
# infrastructure safely"): a replacement or removal of a data-holding resource is refused
# unless named, e.g. `make deploy ALLOW_REPLACE="DeployTable1D1C3CDA"`.
INFRA  := $(BIN)/stackflow infra
ALLOW_REPLACE ?=
ALLOW_FLAGS := $(foreach id,$(ALLOW_REPLACE),--allow-replace $(id))

.PHONY: help install demo test check lint typecheck unit integration infra e2e \
        synth diff cdk-diff deploy destroy package lock bench clean

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
	@echo "make diff | deploy | destroy   CDK against a real account (STAGE=dev|staging|prod,"
	@echo "               GITHUB_REPO=owner/name unless cdk.json names it); diff and deploy"
	@echo "               refuse data loss unless ALLOW_REPLACE=\"LOGICAL_ID ...\" names it"
	@echo "make cdk-diff  plain \`cdk diff\` of the templates (what the read-only PR role can run)"
	@echo "make package   build the reproducible Lambda zips into dist/"
	@echo "make lock      refresh the hash-locked requirement sets (UPGRADE=1: newest allowed)"
	@echo "make bench     speed, cold-start and canary-detection benchmarks"
	@echo "make install   only create .venv and install (the hash-locked requirements/dev.txt)"
	@echo "make clean     remove cdk.out, dist, .stackflow (local mode data) and caches; keeps .venv"
	@echo ""
	@echo "Then: .venv/bin/stackflow --help (the CLI), docs/ for each part."

# Every package comes from a hash-locked set (each download is checked against its
# SHA-256), the installer and build backend included: pip installs uv from
# requirements/installer.txt, uv installs requirements/dev.txt; the project itself is
# then built in place from this checkout without fetching anything else. `make lock`
# refreshes both.
# The release report's browser test needs Debian's chromium: installed alongside the
# Python packages where this machine allows it (root with apt-get); elsewhere that one
# test skips and says why. Best effort: a failed browser install fails nothing else.
BROWSER_LOG := $(VENV)/browser-install.log

# pip installs the installer (uv, hash-checked); uv installs the dev set into the venv.
UV_INSTALL = $(BIN)/uv pip install --quiet --python $(BIN)/python

$(STAMP): pyproject.toml $(DEV_LOCK) $(INSTALLER_LOCK)
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ required"'
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	@( if command -v chromium >/dev/null 2>&1; then echo "chromium: present"; \
	   elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	     apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	       --no-install-recommends chromium && echo "chromium: installed"; \
	   else echo "chromium: not installable here (needs root and apt-get)"; fi \
	 ) > $(BROWSER_LOG) 2>&1 & echo $$! > $(VENV)/browser-install.pid
	$(BIN)/pip install --quiet --require-hashes -r $(INSTALLER_LOCK)
	$(UV_INSTALL) --require-hashes -r $(DEV_LOCK)
	$(UV_INSTALL) --no-deps --no-build-isolation -e .
	@while kill -0 $$(cat $(VENV)/browser-install.pid) 2>/dev/null; do sleep 1; done; \
	 tail -1 $(BROWSER_LOG)
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

# `stackflow lint` checks migrations/ (StackFlow's rules and squawk's); CI sets
# MIGRATIONS_LINT_FLAGS=--github so a finding shows on its line in the pull request.
MIGRATIONS_LINT_FLAGS ?=
lint: $(STAMP)
	$(BIN)/ruff check functions tools infra tests bench
	$(BIN)/stackflow lint $(MIGRATIONS_LINT_FLAGS)

typecheck: $(STAMP)
	$(BIN)/mypy functions tools infra tests bench

# One worker per core (pytest-xdist): local mode's Lambda workers are processes of their own.
# The type check runs beside the tests (end-to-end tests leave a core idle while they
# wait on their Lambda workers); its report follows theirs, and either failing fails.
MYPY_LOG := $(VENV)/mypy.log
test: lint
	@$(BIN)/mypy functions tools infra tests bench > $(MYPY_LOG) 2>&1 & types=$$!; \
	 $(BIN)/pytest -q -n auto --dist loadscope; tests=$$?; \
	 wait $$types; typed=$$?; \
	 echo "mypy functions tools infra tests bench:"; cat $(MYPY_LOG); \
	 test $$tests -eq 0 -a $$typed -eq 0

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
	$(INFRA) diff --stage $(STAGE) $(CDK_CONTEXT) $(ALLOW_FLAGS)

# The CDK's own template comparison (what the read-only pull-request role can run).
cdk-diff: $(STAMP)
	$(CDK) diff --app "$(BIN)/python -m infra.app" $(CDK_CONTEXT) --all

# The preflight stops a deploy whose roles would trust no configured repository.
deploy: $(STAMP)
	$(BIN)/python -m infra.preflight $(CDK_CONTEXT)
ifeq ($(STAGE),prod)
	$(INFRA) deploy --stage $(STAGE) $(CDK_CONTEXT) --require-approval any-change $(ALLOW_FLAGS)
else
	$(INFRA) deploy --stage $(STAGE) $(CDK_CONTEXT) $(ALLOW_FLAGS)
endif

destroy: $(STAMP)
	$(CDK) destroy --app "$(BIN)/python -m infra.app" $(CDK_CONTEXT) --all

# LAMBDA_PYTHON / LAMBDA_ARCH override the runtime infra/assets.py declares (the default).
package: $(STAMP)
	$(BIN)/python -m stackflow_tools.release.package $(if $(LAMBDA_PYTHON),--python-version $(LAMBDA_PYTHON)) $(if $(LAMBDA_ARCH),--arch $(LAMBDA_ARCH))

# The hash-locked sets: dev (every machine, universal across Python 3.11+ and
# platforms), deploy (the deploy job: boto3 only, pinned as in dev) and the Lambda zips'
# runtime dependencies (their target's Python, hashes of every wheel of each version),
# and the installer (uv, as pinned in dev).
# Pins are kept unless UPGRADE=1; commit the changed files.
UV_COMPILE = $(BIN)/uv pip compile --quiet --generate-hashes --custom-compile-command "make lock" $(if $(UPGRADE),--upgrade)
lock: $(STAMP)
	$(UV_COMPILE) --universal --python-version 3.11 --extra dev pyproject.toml requirements/build.in -o $(DEV_LOCK)
	$(UV_COMPILE) --universal --python-version 3.11 -c $(DEV_LOCK) requirements/deploy.in -o $(DEPLOY_LOCK)
	$(UV_COMPILE) --universal --python-version 3.11 -c $(DEV_LOCK) requirements/installer.in -o $(INSTALLER_LOCK)
	$(UV_COMPILE) --python-version 3.13 --python-platform x86_64-manylinux_2_34 $(LAMBDA_LOCK:.txt=.in) -o $(LAMBDA_LOCK)

bench: $(STAMP)
	$(BIN)/python -m bench.migrate_overhead
	$(BIN)/python -m bench.cold_start
	$(BIN)/python -m bench.canary_detection

clean:
	rm -rf cdk.out dist build .pytest_cache .mypy_cache .ruff_cache .stackflow
