# The two commands of the README: `make run` and `make test`. Both set up what is
# missing (uv, the application's Python 3.11 environment, the Rasa 3.6 runtime on
# Python 3.10) and reuse what is there.
SHELL := /bin/bash
.DEFAULT_GOAL := help
UV_VERSION := 0.13.8
TOOLS := .tools
UV := $(TOOLS)/bin/uv
export UV_PROJECT_ENVIRONMENT := .venv
export RASA_TELEMETRY_ENABLED := false
export TF_CPP_MIN_LOG_LEVEL := 2

.PHONY: help setup run chat parse test test-fast lint format typecheck validate train documents bench bench-channels bench-replicas bench-flood bench-export bench-perception bench-reader bench-desk clean

help:
	@echo "make run    set up everything and start the assistant (web chat on http://127.0.0.1:8000)"
	@echo "make test   set up everything and run the checks and tests"
	@echo "make test-fast  the same without the suites that need a Rasa server (while you work)"
	@echo "make chat   talk to the assistant in the terminal"
	@echo "make parse  read messages on stdin, print language/intent/confidence as JSON lines"
	@echo "make bench  measure turn latency against the real Rasa server"
	@echo "make train  train the Rasa model if the training data changed"
	@echo "make documents  write the demo project's PDF documents again from their text"

$(UV):
	@command -v python3 >/dev/null || { echo "python3 is needed to bootstrap uv: install Python 3.11 or newer."; exit 1; }
	python3 -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

.venv/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --quiet
	@touch $@

.venv-rasa/.complete: $(UV) runtime/rasa/requirements.lock scripts/setup-rasa.sh scripts/find-python310.sh
	UV=$(abspath $(UV)) bash scripts/setup-rasa.sh

setup: .venv/.synced .venv-rasa/.complete

run: setup
	.venv/bin/bot run

chat: setup
	.venv/bin/bot chat

parse: setup
	@.venv/bin/bot parse

lint: .venv/.synced
	.venv/bin/ruff check bot tests bench
	.venv/bin/ruff format --check bot tests bench
	.venv/bin/lint-imports --no-cache

format: .venv/.synced
	.venv/bin/ruff format bot tests bench
	.venv/bin/ruff check --fix bot tests bench

typecheck: .venv/.synced
	.venv/bin/mypy

validate: setup
	.venv/bin/bot kb build
	.venv-rasa/bin/rasa data validate --domain domain --data nlu stories --config config.yml

# The concern judgement, the intent reader and the answer relevance decision (when their examples
# changed), then the Rasa model (when its data changed).
train: setup
	.venv/bin/bot train

documents: .venv/.synced
	.venv/bin/python scripts/make_documents.py

# The tests also run on a throw-away PostgreSQL server (scripts/test-postgres.sh), unless
# TEST_POSTGRES_URL points to one of yours; without PostgreSQL those cases are skipped. A server
# already running for this checkout is reused and left running.
test: setup lint typecheck
	bash scripts/run-tests.sh

# While working: everything but the suites that train and start a real Rasa server (marker
# `rasa`); CI runs `make test`, which runs them all.
test-fast: .venv/.synced lint typecheck
	bash scripts/run-tests.sh -m "not rasa"

bench: setup
	.venv/bin/python bench/turn_latency.py
	.venv/bin/python bench/channel_latency.py
	.venv/bin/python bench/flood.py

bench-channels: setup
	.venv/bin/python bench/channel_latency.py

# One application process and Rasa server against two, on PostgreSQL, in the same run.
bench-replicas: setup
	.venv/bin/python bench/replicas.py

bench-flood: setup
	.venv/bin/python bench/flood.py

bench-export: setup
	.venv/bin/python bench/export_concerns.py

bench-perception: setup
	.venv/bin/python bench/perception.py

bench-desk: setup
	.venv/bin/python bench/desk_register.py
	bash scripts/with-postgres.sh .venv/bin/python bench/desk_register.py --postgres

bench-reader: setup
	.venv/bin/python bench/reader.py

clean:
	rm -rf .venv .tools var models .pytest_cache .mypy_cache .ruff_cache
	rm -f .venv-rasa
