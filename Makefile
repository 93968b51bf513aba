# The two commands: `make run` (the embedded platform) and `make test` (the default suite).
# Both install what they need: uv (from PyPI) and the locked Python environment.

SHELL := /bin/bash
UV_VERSION := 0.13.9
export PATH := $(HOME)/.local/bin:$(PATH)
UV := $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
RUN := $(UV) run --frozen

.PHONY: run run-kafka kafka-start kafka-stop test test-slow test-kafka test-postgres test-faults soak test-all lint typecheck proto proto-lint proto-breaking bench setup clean tools

setup: .venv/.synced

$(UV):
	python3 -m pip install --user --quiet "uv==$(UV_VERSION)" || python3 -m pip install --quiet "uv==$(UV_VERSION)"

.venv/.synced: uv.lock pyproject.toml libs/*/pyproject.toml services/*/pyproject.toml stack/pyproject.toml | $(UV)
	$(UV) sync --frozen
	@touch $@

run: setup
	$(RUN) python -m bizclub_stack

# The same platform on Apache Kafka (deploy/kafka, data kept in var/kafka): the event log
# lasts across restarts. Kafka stops with the platform (Ctrl-C).
run-kafka: setup
	@trap 'deploy/kafka/kafka.sh stop' EXIT; \
	deploy/kafka/kafka.sh start && \
	KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:$${KAFKA_PORT:-19092} BIZCLUB_KAFKA_IDEMPOTENCE=true \
	    $(RUN) python -m bizclub_stack

kafka-start:
	deploy/kafka/kafka.sh start

kafka-stop:
	deploy/kafka/kafka.sh stop

test: setup lint typecheck
	$(RUN) pytest -q

test-slow: setup
	$(RUN) pytest -q -m slow || [ $$? -eq 5 ]  # 5: no slow tests selected

# The integration and end-to-end suites with every service's database on a throwaway
# PostgreSQL server (the machine's binaries; stopped and deleted at exit, pass or fail).
test-postgres: setup
	tools/with-postgres.sh $(RUN) pytest -q tests/integration tests/e2e

# The integration and end-to-end suites against Apache Kafka 4 (KRaft) from Maven Central,
# run by deploy/kafka/kafka.sh on fresh data; stopped afterwards whatever the outcome.
# test_embedded_broker.py tests the Tansu launcher itself, so it stays with `make test`.
KAFKA_TEST_PORT ?= 19092
KAFKA_TEST_CONTROLLER_PORT ?= 19093
test-kafka: setup
	@export KAFKA_PORT=$(KAFKA_TEST_PORT) KAFKA_CONTROLLER_PORT=$(KAFKA_TEST_CONTROLLER_PORT) \
	    KAFKA_STATE_DIR=$(CURDIR)/var/kafka-test; \
	deploy/kafka/kafka.sh reset && \
	trap 'deploy/kafka/kafka.sh stop' EXIT && \
	deploy/kafka/kafka.sh start && \
	KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:$(KAFKA_TEST_PORT) \
	BIZCLUB_TEST_KAFKA_SCRIPT=$(CURDIR)/deploy/kafka/kafka.sh \
	    $(RUN) pytest -q tests/integration tests/e2e \
	    --ignore=tests/integration/test_embedded_broker.py

# The fault suite (tests/faults, and the commit-then-crash test) on Apache Kafka, which keeps
# its log across the broker kill; each test prints its produced/applied/projected counts.
# Then the database outage again with the services on a throwaway PostgreSQL server
# (tools/with-postgres.sh), where an outage is the database refusing connections.
KAFKA_FAULTS_PORT ?= 19192
KAFKA_FAULTS_CONTROLLER_PORT ?= 19193
test-faults: setup
	@export KAFKA_PORT=$(KAFKA_FAULTS_PORT) KAFKA_CONTROLLER_PORT=$(KAFKA_FAULTS_CONTROLLER_PORT) \
	    KAFKA_STATE_DIR=$(CURDIR)/var/kafka-faults; \
	deploy/kafka/kafka.sh reset && \
	trap 'deploy/kafka/kafka.sh stop' EXIT && \
	deploy/kafka/kafka.sh start && \
	KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:$(KAFKA_FAULTS_PORT) \
	BIZCLUB_TEST_KAFKA_SCRIPT=$(CURDIR)/deploy/kafka/kafka.sh \
	    $(RUN) pytest -q -s -m "" tests/faults tests/integration/test_crash_recovery.py && \
	KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:$(KAFKA_FAULTS_PORT) \
	BIZCLUB_TEST_KAFKA_SCRIPT=$(CURDIR)/deploy/kafka/kafka.sh \
	    tools/with-postgres.sh $(RUN) pytest -q -s -m "" tests/faults/test_database_outage.py

# Mixed traffic on every service for SOAK_SECONDS (default 10 min), then the lag drain.
SOAK_SECONDS ?= 600
soak: setup
	$(RUN) python -m bench.soak --duration $(SOAK_SECONDS)

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
