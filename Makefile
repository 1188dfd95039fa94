# Developer tasks. `make help` lists them. Every target sets up the virtualenv first.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
SHARED_DATA ?= ../shared/data/cifar100-bicycle-motorcycle
# checkov pins boto3 1.35 (aws-sam-cli pins 1.43): it lives in its own virtualenv
CHECKOV_VENV ?= .venv-checkov
CHECKOV := $(CHECKOV_VENV)/bin/checkov
# the real SageMaker PyTorch serving toolkit (TorchServe, Java 17) for the serving test tier and
# the endpoint benchmark: its own virtualenv, torch from the local CPU wheel (never another)
SERVING_VENV ?= .venv-serving
SERVING_PACKAGES := torch==2.13.0 sagemaker-pytorch-inference==2.0.25 torchserve==0.12.0 \
	torch-model-archiver==0.12.0 pyyaml pillow "setuptools<81"
# asl-validator (npm), pinned by tools/asl-validator/package-lock.json, installed next to it
ASL_VALIDATOR_DIR := tools/asl-validator
ASL_VALIDATOR := $(ASL_VALIDATOR_DIR)/node_modules/.installed

.DEFAULT_GOAL := help
.PHONY: help install serving-venv lint test test-fast validate build deploy demo bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[aws,dev]'
	touch $@

install: $(VENV)/.installed ## create .venv with every dependency (torch CPU, moto, sam, sagemaker)

$(SERVING_VENV)/.installed:
	python3 -m venv $(SERVING_VENV)
	$(SERVING_VENV)/bin/pip install -q $(SERVING_PACKAGES)
	touch $@

serving-venv: $(SERVING_VENV)/.installed ## create .venv-serving: the real SageMaker PyTorch serving toolkit

$(CHECKOV):
	python3 -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install -q 'checkov==3.3.30'

$(ASL_VALIDATOR): $(ASL_VALIDATOR_DIR)/package.json $(ASL_VALIDATOR_DIR)/package-lock.json
	npm ci --prefix $(ASL_VALIDATOR_DIR) --no-audit --no-fund
	touch $@

lint: install $(CHECKOV) $(ASL_VALIDATOR) ## ruff, cfn-lint (serverless rules), sam validate --lint, checkov, asl-validator
	$(BIN)/ruff check .
	$(BIN)/cfn-lint --append-rules cfn_lint_serverless.rules -- template.yaml
	$(BIN)/sam validate --lint
	$(CHECKOV) --config-file .checkov.yaml
	$(PY) $(ASL_VALIDATOR_DIR)/validate_asl.py

validate: lint

build: install ## sam build (Docker-free: makefile builds with pip --platform)
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/sam build

test: install serving-venv ## lint, sam build, then the whole test suite (unit, model, local workflow, real serving toolkit)
	$(MAKE) lint build
	$(BIN)/pytest

test-fast: install ## unit tests only (no training, no end-to-end workflow)
	$(BIN)/pytest -m "not slow and not integration"

deploy: build ## sam deploy with samconfig.toml (needs AWS credentials and a deployed endpoint)
	$(BIN)/sam deploy

demo: install ## the main job: train if needed, serve locally, run the workflow, write the report, one turn of the loop
	$(BIN)/scones demo

bench: install ## benchmarks (speed and quality tables; not part of the tests)
	for b in benchmarks/*.py; do $(PY) $$b || exit 1; done

clean: ## remove build output and local runs (keeps .venv)
	rm -rf .aws-sam build dist *.egg-info .pytest_cache runs
