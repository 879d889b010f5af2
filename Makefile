# Marketing agent teams: developer entry points. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
RUN_DIR := .run
PROTO_DIR := protos
GEN_DIR := generated
PROTO_FILES := $(shell find $(PROTO_DIR) -name '*.proto' | sort)
SERVICES := research content social supervisor

.PHONY: help install protos protos-check lint test demo up down migrate warm-cache bench clean

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

lint: $(STAMP) ## buf lint (STANDARD) and ruff
	cd $(PROTO_DIR) && ../$(BIN)/buf lint
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: $(STAMP) ## Run unit, integration and end-to-end tests
	$(BIN)/python -m pytest

demo: $(STAMP) ## Start the four services, run a sample campaign, print it, stop them
	$(BIN)/python -m supervisor_service.demo

up: $(STAMP) ## Start the four services in the background on 127.0.0.1 (logs and pids in .run/)
	@mkdir -p $(RUN_DIR)
	@for svc in $(SERVICES); do \
		if [ -f $(RUN_DIR)/$$svc.pid ] && kill -0 $$(cat $(RUN_DIR)/$$svc.pid) 2>/dev/null; then \
			echo "$$svc already running (pid $$(cat $(RUN_DIR)/$$svc.pid))"; continue; fi; \
		BIND_HOST=$${BIND_HOST:-127.0.0.1} nohup $(BIN)/python -m $${svc}_service > $(RUN_DIR)/$$svc.log 2>&1 & \
		echo $$! > $(RUN_DIR)/$$svc.pid; \
		echo "started $$svc (pid $$!, log $(RUN_DIR)/$$svc.log)"; \
	done
	@$(BIN)/python -m common.healthcheck --wait 30 research content social supervisor

down: ## Stop the services started by `make up` (SIGTERM, graceful drain; supervisor first)
	@for svc in supervisor research content social; do \
		if [ -f $(RUN_DIR)/$$svc.pid ]; then \
			pid=$$(cat $(RUN_DIR)/$$svc.pid); \
			if kill -0 $$pid 2>/dev/null; then kill -TERM $$pid; echo "stopping $$svc (pid $$pid)"; \
				for _ in $$(seq 1 100); do kill -0 $$pid 2>/dev/null || break; sleep 0.1; done; \
				kill -0 $$pid 2>/dev/null && { echo "$$svc did not stop in time; killing"; kill -KILL $$pid; }; fi; \
			rm -f $(RUN_DIR)/$$svc.pid; \
		fi; \
	done

migrate: $(STAMP) ## Apply database migrations (DATABASE_URL, else the SQLite files under .data/)
	$(BIN)/python -m common.storage.migrate

warm-cache: $(STAMP) ## Warm the tool cache (REDIS_URL) with the queries in QUERIES_FILE
	$(BIN)/python -m research_service.warm_cache --file $${QUERIES_FILE:?set QUERIES_FILE to a file of queries}

bench: $(STAMP) ## Benchmarks: gRPC overhead vs in-process, throughput, model calls (benchmarks/RESULTS.md)
	$(BIN)/python -m benchmarks

clean: ## Remove the virtual environment, run files and caches
	rm -rf $(VENV) $(RUN_DIR) .pytest_cache .ruff_cache
