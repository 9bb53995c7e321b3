# Two commands: `make run` (set up and run the demo) and `make test` (the whole suite). Both set
# up what they need first with scripts/setup, the one set-up path (.ci/run calls it too).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test setup-run setup-test bench soak proto proto-check clean

# The venv and Python packages only (no system packages): what the demo needs.
$(STAMP): pyproject.toml
	PYTHON=$(PYTHON) scripts/setup run

setup-run:
	PYTHON=$(PYTHON) scripts/setup run

# Also Chromium, a CJK font, promtool, h2load, wrk and the Redis/PostgreSQL clients.
setup-test:
	PYTHON=$(PYTHON) scripts/setup test

# Generated gRPC code lives in querynode/v1 and is committed; CI checks it is current.
proto: setup-run
	$(PY) -m grpc_tools.protoc -Iprotos --python_out=. --pyi_out=. --grpc_python_out=. protos/querynode/v1/querynode.proto

proto-check: proto
	git diff --exit-code -- querynode/v1 || (echo "generated code is stale: run make proto and commit" && exit 1)

run: setup-run proto
	$(VENV)/bin/querynode demo

test: setup-test proto
	$(PY) -m pytest

# Benchmark with same-run baselines (h2load and wrk: scripts/setup test installs them).
bench: setup-test proto
	$(PY) bench/run.py

# Bounded soak (SOAK_SECONDS, default 600) at 70% of measured capacity with faults in two departments.
soak: setup-test proto
	$(PY) bench/soak.py

clean:
	rm -rf $(VENV) .querynode .pytest_cache
