# The two commands of the README: `make demo` (the main job) and `make test`.
# Everything installs from this repository's own files: uv.lock pins every package,
# and uv itself is bootstrapped with pip when the machine has none.

# The interpreter itself, not a version manager's shim: uv compares this path with
# the one .venv was made from, and recreates .venv on every `uv run` when they differ.
# Resolved once (`?=` would run the shell again at every use of the variable).
ifndef PYTHON
PYTHON := $(shell $$(command -v python3.11 || command -v python3) -c 'import sys; print(sys.executable)')
endif
UV_VERSION := 0.13.8
TOOLS := .tools
UV := $(or $(shell command -v uv 2>/dev/null),$(TOOLS)/bin/uv)

# Never download an interpreter: the project runs on the machine's Python 3.11.
export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON := $(PYTHON)
export PREFECT_SERVER_ANALYTICS_ENABLED := false
# Byte-compile at install: where PYTHONDONTWRITEBYTECODE is set (CI images often
# set it) Python would otherwise compile dbt, Prefect and their dependencies
# from source in every process, about 4 s of each dbt command here.
export UV_COMPILE_BYTECODE := 1

.PHONY: demo test lint format install bench docs clean

$(TOOLS)/bin/uv:
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

.venv/.installed: uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen
	@touch $@

# A venv under .tools of its own for some of uv.lock's packages, hashes checked:
# $(1) its folder, $(2) the groups, as `uv export` takes them.
define group_venv
	mkdir -p $(TOOLS)
	$(UV) export --frozen $(2) --no-emit-project --quiet -o $(TOOLS)/$(1)-requirements.txt
	rm -rf $(TOOLS)/$(1)
	$(UV) venv --quiet $(TOOLS)/$(1)
	$(UV) pip install --quiet --require-hashes --python $(TOOLS)/$(1)/bin/python -r $(TOOLS)/$(1)-requirements.txt
	@touch $@
endef

# checkov, which the infra tests run on the synthesized templates, in a venv of its
# own: it pins boto3 and cachetools below the project's. Its versions and hashes
# come from uv.lock's `audit` group.
CHECKOV := $(TOOLS)/checkov/bin/checkov
$(CHECKOV): uv.lock | $(UV)
	$(call group_venv,checkov,--only-group audit)

install: .venv/.installed $(CHECKOV)

demo: install
	$(UV) run --frozen streamlake run

lint: install
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen sqlfluff lint dbt_project/models dbt_project/tests
	$(UV) run --frozen dbt parse --quiet --target-path target/lint
	$(UV) run --frozen dbt-score lint --manifest target/lint/manifest.json

# Three workers on two cores: the suite waits on subprocesses, servers and the
# emulator's threads as much as it computes (measured here: 15.5 min with three
# workers against 17.9 with two, before the latest cuts).
test: lint
	$(UV) run --frozen pytest -n 3 --dist loadfile

format: install
	$(UV) run --frozen ruff format .
	$(UV) run --frozen ruff check --fix .

bench: install
	$(UV) run --frozen python bench/kinesis_handler.py
	$(UV) run --frozen python bench/dbt_build.py
	$(UV) run --frozen python bench/freshness.py

# dbt docs: lineage from the Bronze sources to the dashboards, served on
# http://127.0.0.1:8080 until Ctrl-C (DOCS_PORT to change the port).
DOCS_PORT ?= 8080
docs: install
	$(UV) run --frozen dbt docs generate --target-path target/docs
	@echo "dbt docs on http://127.0.0.1:$(DOCS_PORT) (Ctrl-C stops them)"
	$(UV) run --frozen dbt docs serve --target-path target/docs --host 127.0.0.1 --port $(DOCS_PORT) --no-browser

# The CDK app (infra/): synthesized into infra/cdk.out with the Lambda code and layer
# assets built locally by uv, no Docker (see infra/README.md). Downloads the layer's
# aarch64 wheels once per change of uv.lock; nothing else needs the network.
.PHONY: infra-synth
infra-synth: install
	PATH="$(abspath $(dir $(UV))):$$PATH" $(UV) run --frozen python infra/app.py

# dbt-athena's functional suite against the Athena emulator (docs/athena-emulator.md),
# about 8 minutes on a quiet machine: not part of `make test`. Its environment is the
# project's locked packages with uv.lock's athena-suite group (dbt-tests-adapter),
# hashes checked; its source is the tests/ of the dbt-athena sdist uv.lock pins,
# fetched once and checked against the lock's sha256. It fails under 119 passed tests:
# 95 % of the 125 that apply (the others skip themselves).
ATHENA_SUITE_ENV := $(TOOLS)/athena-suite/bin/python
ATHENA_SUITE_SOURCE := $(TOOLS)/dbt-athena-suite/SOURCE
$(ATHENA_SUITE_ENV): uv.lock | $(UV)
	$(call group_venv,athena-suite,--no-default-groups --group athena-suite)

$(ATHENA_SUITE_SOURCE): uv.lock | .venv/.installed
	$(UV) run --frozen python -m athena_emulator.adapter_suite fetch

.PHONY: athena-suite
athena-suite: .venv/.installed $(ATHENA_SUITE_ENV) $(ATHENA_SUITE_SOURCE)
	$(UV) run --frozen python -m athena_emulator.adapter_suite run --min-passed 119

clean:
	rm -rf lake .venv $(TOOLS) .pytest_cache .ruff_cache target logs .duckdb
