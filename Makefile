# The two commands: `make run` (the embedded platform) and `make test` (the default suite).
# Both install what they need: uv (from PyPI) and the locked Python environment.

SHELL := /bin/bash
UV_VERSION := 0.13.9
export PATH := $(HOME)/.local/bin:$(PATH)
UV := $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
RUN := $(UV) run --frozen

.PHONY: run test test-slow test-postgres test-all lint typecheck proto proto-lint proto-breaking bench setup clean tools

setup: .venv/.synced

$(UV):
	python3 -m pip install --user --quiet "uv==$(UV_VERSION)" || python3 -m pip install --quiet "uv==$(UV_VERSION)"

.venv/.synced: uv.lock pyproject.toml libs/*/pyproject.toml services/*/pyproject.toml stack/pyproject.toml | $(UV)
	$(UV) sync --frozen
	@touch $@

run: setup
	$(RUN) python -m bizclub_stack

test: setup lint typecheck
	$(RUN) pytest -q

test-slow: setup
	$(RUN) pytest -q -m slow || [ $$? -eq 5 ]  # 5: no slow tests selected

# The integration and end-to-end suites with every service's database on a throwaway
# PostgreSQL server (the machine's binaries; stopped and deleted at exit, pass or fail).
test-postgres: setup
	tools/with-postgres.sh $(RUN) pytest -q -rs tests/integration tests/e2e

lint: setup
	$(RUN) ruff check .
	$(RUN) ruff format --check .

typecheck: setup
	$(RUN) mypy libs/shared/src services/*/src stack/src tests bench tools/gen_proto.py

proto: setup
	$(RUN) python tools/gen_proto.py

proto-lint:
	tools/buf.sh lint proto

proto-breaking:
	tools/buf-breaking.sh

bench: setup
	$(RUN) python -m bench

tools:
	tools/install-grpcurl.sh

clean:
	rm -rf var .venv
