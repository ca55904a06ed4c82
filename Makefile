# Thin aliases of the `freshpoc` command; `make demo` and `make test` install what they need.
SHELL := /bin/bash
FRESHPOC := .venv/bin/freshpoc
PYTEST_ARGS ?=

.PHONY: help venv up down status logs reset demo test unit integration lint lock bench \
	cluster-up cluster-status cluster-down cluster-test

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

venv:  ## build (or reuse) the Python environment and link it at .venv
	@scripts/bootstrap

up: venv  ## freshpoc stack up: build what is missing, start every server, wait until healthy
	$(FRESHPOC) stack up

down: venv  ## stop every server (data kept)
	$(FRESHPOC) stack down

status: venv  ## status table of the stack
	$(FRESHPOC) stack status

logs: venv  ## last log lines of every service
	$(FRESHPOC) stack logs

reset: venv  ## stop the stack and delete its data (asks first)
	$(FRESHPOC) stack reset

demo: up  ## the main job end to end on the local stack
	$(FRESHPOC) demo

test: up  ## lint, then every test: unit (pure core) and integration (real servers)
	.venv/bin/ruff check .
	.venv/bin/pytest $(PYTEST_ARGS)

unit: venv  ## unit tests only (no server needed)
	.venv/bin/pytest -m "not integration" $(PYTEST_ARGS)

integration: up  ## integration tests only
	.venv/bin/pytest -m integration $(PYTEST_ARGS)

# Benchmarks that need no reference checkout (the accuracy_* ones and report_local.py's flask
# case take paths to clones: see their docstrings). graph_write and query_api start private
# Dgraphs; search_quality uses the running Weaviate with a collection of its own, dropped after.
# pipeline_skip.py processes a fresh clone on the running stack: run it by hand.
BENCHMARKS ?= mining analysis graph_write query_api search_quality accuracy_airflow
bench: venv  ## every benchmark that needs no reference checkout, niced, one after the other
	@set -e; for b in $(BENCHMARKS); do echo "==> .venv/bin/python benchmarks/$$b.py"; \
	  nice -n 10 .venv/bin/python benchmarks/$$b.py; done

# The cluster profile (issue 18): CeleryExecutor with two workers, three Dgraph alphas, three Kafka
# brokers, its own ports and state ($FRESHPOC_CLUSTER_STATE_DIR); ~5 GB of memory.
CLUSTER_MIN_GB ?= 8
cluster-up: venv  ## freshpoc stack up --profile cluster
	$(FRESHPOC) stack up --profile cluster

cluster-status: venv  ## status table of the cluster profile
	$(FRESHPOC) stack status --profile cluster

cluster-down: venv  ## stop the cluster profile (data kept)
	$(FRESHPOC) stack down --profile cluster

cluster-test: venv  ## the cluster profile's drills and pipeline tests (up, test, down) when the machine has the memory
	@avail=$$(awk '/MemAvailable/ {print int($$2 / 1048576)}' /proc/meminfo); \
	if [ "$$avail" -lt $(CLUSTER_MIN_GB) ]; then \
	  echo "==> cluster tests skipped: $$avail GB of memory available, the cluster profile needs $(CLUSTER_MIN_GB) (CLUSTER_MIN_GB)"; \
	  exit 0; fi; \
	echo "==> $$avail GB available: cluster tests run"; \
	$(FRESHPOC) stack up --profile cluster || { $(FRESHPOC) stack down --profile cluster; exit 1; }; \
	.venv/bin/pytest -m cluster tests/integration/cluster $(PYTEST_ARGS); rc=$$?; \
	FRESHPOC_TEST_PROFILE=cluster .venv/bin/pytest tests/integration/pipeline $(PYTEST_ARGS) \
	  --deselect tests/integration/pipeline/test_kafka_outage.py::test_run_survives_a_kafka_outage \
	  || rc=1; \
	$(FRESHPOC) stack down --profile cluster; exit $$rc

lint: venv  ## ruff
	.venv/bin/ruff check .

lock: venv  ## regenerate constraints.txt from the current environment
	@(echo "# Full resolution of requirements.txt, used as pip constraints so every machine installs the same set."; \
	  echo "# Regenerate with: make lock"; .venv/bin/pip freeze --exclude-editable) > constraints.txt
