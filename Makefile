# Marketing agent teams: developer entry points. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PROTO_DIR := protos
GEN_DIR := generated
PROTO_FILES := $(shell find $(PROTO_DIR) -name '*.proto' | sort)

.PHONY: help install protos protos-check deploy-files lint test demo up down migrate warm-cache bench clean

help: ## Show this help
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}'

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c requirements.lock -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP) ## Create .venv and install pinned dependencies (dev tools included)

protos: $(STAMP) ## Regenerate Python code from protos/ into generated/
	@rm -rf $(GEN_DIR)/marketing
	@mkdir -p $(GEN_DIR)
	$(BIN)/python -m grpc_tools.protoc -I$(PROTO_DIR) --python_out=$(GEN_DIR) --pyi_out=$(GEN_DIR) \
		--grpc_python_out=$(GEN_DIR) $(PROTO_FILES)
	@find $(GEN_DIR)/marketing -type d -exec touch {}/__init__.py \;

protos-check: protos ## Fail when generated/ differs from what `make protos` produces
	@git diff --exit-code --stat -- $(GEN_DIR) || { echo "generated/ is stale: run 'make protos' and commit"; exit 1; }
	@test -z "$$(git ls-files --others --exclude-standard -- $(GEN_DIR))" || { echo "generated/ has uncommitted files: run 'make protos' and commit"; exit 1; }

deploy-files: $(STAMP) ## Regenerate the deploy files from the team registry (common/teams.py)
	$(BIN)/python deploy/generate.py

lint: $(STAMP) ## buf lint (STANDARD), ruff and mypy
	cd $(PROTO_DIR) && ../$(BIN)/buf lint
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: $(STAMP) ## Run unit, integration and end-to-end tests
	$(BIN)/python -m pytest

demo: $(STAMP) ## Start the four services and the gateway, run a sample campaign, print it, stop them (REVIEW=browser: approve it in the console)
	$(BIN)/python -m supervisor_service.demo $(if $(filter browser,$(REVIEW)),--review-in-browser)

up: $(STAMP) ## Start the services and the gateway (:8080) in the background on 127.0.0.1 (logs in .run/); REPLICAS=research=2 adds replicas
	$(BIN)/python -m common.launcher up $(if $(REPLICAS),--replicas $(REPLICAS))

down: ## Stop the services started by `make up` (SIGTERM and graceful drain, supervisor first)
	@test -x $(BIN)/python && $(BIN)/python -m common.launcher down || true

migrate: $(STAMP) ## Apply database migrations (DATABASE_URL, else the SQLite files under .data/)
	$(BIN)/python -m common.storage.migrate

warm-cache: $(STAMP) ## Warm the tool cache (REDIS_URL) with the queries in QUERIES_FILE
	$(BIN)/python -m research_service.warm_cache --file $${QUERIES_FILE:?set QUERIES_FILE to a file of queries}

bench: $(STAMP) ## Benchmarks: gRPC overhead vs in-process, throughput, model calls (benchmarks/RESULTS.md)
	$(BIN)/python -m benchmarks

clean: ## Remove the virtual environment, run files and caches
	rm -rf $(VENV) .run .pytest_cache .ruff_cache .mypy_cache
