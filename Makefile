# Two commands: `make run` (set up and run the demo) and `make test` (the whole suite).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test bench soak proto proto-check clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Generated gRPC code lives in querynode/v1 and is committed; CI checks it is current.
proto: $(STAMP)
	$(PY) -m grpc_tools.protoc -Iprotos --python_out=. --pyi_out=. --grpc_python_out=. protos/querynode/v1/querynode.proto

proto-check: proto
	git diff --exit-code -- querynode/v1 || (echo "generated code is stale: run make proto and commit" && exit 1)

run: proto
	$(VENV)/bin/querynode demo

test: proto
	$(PY) -m pytest

# Benchmark with same-run baselines (needs h2load and wrk: apt-get install nghttp2-client wrk).
bench: proto
	$(PY) bench/run.py

# Bounded soak (SOAK_SECONDS, default 600) at 70% of measured capacity with faults in two departments.
soak: proto
	$(PY) bench/soak.py

clean:
	rm -rf $(VENV) .querynode .pytest_cache
