# Every target bootstraps its own virtual environment in .venv from the project files alone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The Lambda runtime's SDK, for tests/infra's run of the packaged zip: the oldest boto3 the project
# accepts (pyproject.toml), apart from the venv's own.
LAMBDA_RUNTIME := $(VENV)/lambda-runtime/.installed
# The .chalice/config.json stage that `make package` builds.
STAGE ?= dev

.PHONY: test lint typecheck pytest demo package clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(LAMBDA_RUNTIME): $(STAMP)
	rm -rf $(VENV)/lambda-runtime
	$(BIN)/python -m pip install --quiet --target $(VENV)/lambda-runtime 'boto3==1.34.0' 'botocore==1.34.0'
	touch $(LAMBDA_RUNTIME)

test: $(STAMP) $(LAMBDA_RUNTIME)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP) $(LAMBDA_RUNTIME)
	$(BIN)/pytest

demo: $(STAMP)
	$(BIN)/python -m fnq.local.demo

# Offline: out/$(STAGE)/sam.json + deployment.zip, from `$(BIN)/chalice package --merge-template`
# run on a staged copy of the app with infra/ merged in (fnq/packaging.py, docs/DEPLOY.md).
package: $(STAMP)
	$(BIN)/python -m fnq.packaging --chalice $(BIN)/chalice --stage $(STAGE) --out out

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache out
