# outdial — `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCAL_STAMP := $(VENV)/.installed-local
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20

.DEFAULT_GOAL := help
.PHONY: help install install-local lock serve test test-fast lint format synth cfn-lint doctor deploy bench bench-load bench-cost bench-cli clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

# `make serve` needs only the runtime and `outdial serve`'s embedded AWS ([local]); tests, linters
# and the CDK ([dev,infra]) come with `make test`, `make lint` and `make synth`.
$(LOCAL_STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e '.[local]'
	@touch $(LOCAL_STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[local,dev,infra]'
	@touch $(STAMP) $(LOCAL_STAMP)

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

install: $(STAMP) ## create .venv and install outdial with its dev and infra tools (idempotent)

install-local: $(LOCAL_STAMP) ## create .venv with what `outdial serve` and the CLI need, no more

serve: $(LOCAL_STAMP) ## run the whole service on 127.0.0.1:8080 with a demo flow (Ctrl-C stops)
	$(BIN)/outdial serve --port $(or $(PORT),8080) $(if $(CONFIG),--config $(CONFIG))

# Tests write bytecode whatever the shell says (PYTHONDONTWRITEBYTECODE): every `outdial serve`
# and CLI run an e2e test starts would otherwise compile outdial anew, and every worker would
# rewrite every test module's asserts anew.
test: export PYTHONDONTWRITEBYTECODE :=
test: $(STAMP) node_modules/.installed ## run every test suite offline (unit, integration, infra, e2e), four workers
	$(BIN)/python -m compileall -q -j 0 lambdas infra
	$(BIN)/pytest -n 4 --dist loadscope

test-fast: $(STAMP) ## unit and integration tests only
	$(BIN)/pytest tests/unit tests/integration

lint: $(STAMP) ## ruff (lint + format check) and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP) ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

synth: $(STAMP) node_modules/.installed ## write cdk.out/*.template.json offline (cdk-nag runs on every synth)
	CDK_DISABLE_CLI_TELEMETRY=1 CDK_DISABLE_VERSION_CHECK=1 PATH=$(CURDIR)/$(BIN):$$PATH \
		npx --no-install cdk synth --quiet --no-notices

cfn-lint: synth ## cfn-lint the synthesized template: any error fails (warnings are printed)
	$(BIN)/cfn-lint --non-zero-exit-code error -- cdk.out/*.template.json

doctor: $(STAMP) ## pre-flight for deploy: credentials, region, CDK bootstrap, Lambda concurrency, API Gateway log role
	$(BIN)/outdial doctor

deploy: $(STAMP) node_modules/.installed doctor ## outdial doctor, then cdk deploy to the account your credentials name (outputs: cdk.out/outputs.json)
	PATH=$(CURDIR)/$(BIN):$$PATH npx --no-install cdk deploy --no-notices --outputs-file cdk.out/outputs.json

lock: $(STAMP) ## re-resolve the Lambda asset's pinned wheels (requirements-lambda.lock) after a pin changes
	$(BIN)/python -m infra.wheels

bench: $(STAMP) ## acceptance and dialer benchmarks on moto (they print figures)
	$(BIN)/python bench/create.py
	$(BIN)/python bench/dial.py

bench-cost: $(STAMP) ## what AWS bills per 1M calls, per service, measured on moto (N=2000 calls; slow)
	$(BIN)/python bench/cost.py

bench-load: $(STAMP) ## a 60 s load run against outdial serve, then a 500-call batch due now
	$(BIN)/python bench/load.py

bench-cli: $(STAMP) ## how long each outdial command takes to start (imports and wall time)
	$(BIN)/python bench/cli.py

clean: ## remove build outputs (keeps .venv)
	rm -rf cdk.out build .pytest_cache .mypy_cache .ruff_cache
