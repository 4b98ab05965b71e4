# The compression lab. A fresh clone needs only `make reports` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PROFILE ?= cpu
export PYTHONHASHSEED := 0
export MPLBACKEND := Agg

.PHONY: setup test test-unit test-notebooks reports bench lab clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

test: setup test-unit test-notebooks

test-unit: setup
	$(PY) -m pytest tests

test-notebooks: setup
	$(PY) -m pytest --nbval-lax notebooks/ -p no:randomly

reports: setup
	$(PY) scripts/run_reports.py --profile $(PROFILE)

bench: setup
	$(PY) benchmarks/bench_holo.py
	$(PY) benchmarks/bench_proc.py

lab: setup
	$(VENV)/bin/jupyter lab notebooks/

clean:
	rm -rf outputs/* .pytest_cache .hypothesis
