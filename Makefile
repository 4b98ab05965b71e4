# The compression lab. A fresh clone needs only `make reports` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PROFILE ?= cpu
FUZZ_CASES ?= 10000
export PYTHONHASHSEED := 0

.PHONY: setup corpora documents test test-unit test-notebooks test-browser fuzz reports bench lab notebooks lock clean

setup: $(VENV)/.installed

# system packages (apt), then exactly requirements/cpu.lock, then a check of .venv against the lock
$(VENV)/.installed: requirements/cpu.lock pyproject.toml scripts/setup.sh
	@PYTHON=$(PYTHON) bash scripts/setup.sh

# English training text for the learned codecs (lab.corpora; Debian dict-gcide, wordnet-base, python3.11-doc)
corpora:
	@bash scripts/setup.sh --corpora

# real PDFs for the optical family (lab.optical.pdfdocs; Debian documentation packages, ~60 MB installed)
documents:
	@bash scripts/setup.sh --documents

# unit tests on both cores, then the notebooks (two at a time: nbval keeps a notebook's cells in order on one
# worker with --dist loadscope) beside the browser tests
test: setup
	$(MAKE) --no-print-directory test-unit
	$(MAKE) --no-print-directory -j2 --output-sync=target test-notebooks test-browser

# one thread per worker: two workers on two cores, without OpenMP threads spinning against each other
test-unit: setup
	OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 $(PY) -m pytest tests -m "not browser" -n 2 --dist loadfile

test-notebooks: setup
	MPLBACKEND=Agg OMP_NUM_THREADS=1 $(PY) -m pytest --nbval-lax notebooks/ -p no:randomly -n 2 --dist loadscope

test-browser: setup
	$(PY) -m pytest tests -m browser

# >= 10,000 mutated inputs per file format (lab.formats), per-case time and memory caps -> reports/fuzz.md
fuzz: setup
	$(PY) -m lab.fuzz --cases $(FUZZ_CASES) --report reports/fuzz.md

# every report, the fuzz campaign, then the dashboard (reports/README.md) that reads them all
reports: setup documents
	$(PY) scripts/run_reports.py --profile $(PROFILE) --skip dashboard
	$(MAKE) --no-print-directory fuzz
	$(PY) scripts/run_reports.py --profile $(PROFILE) --only dashboard

bench: setup
	$(PY) benchmarks/bench_holo.py
	$(PY) benchmarks/bench_proc.py
	$(PY) benchmarks/bench_optical.py
	$(PY) benchmarks/bench_memory.py

lab: setup
	$(VENV)/bin/jupyter lab notebooks/ $(if $(filter 0,$(shell id -u)),--allow-root)

# after editing a notebook's .py (or .ipynb) outside JupyterLab: bring its pair up to date
notebooks: setup
	$(VENV)/bin/jupytext --sync notebooks/*.py

# re-resolve requirements/cpu.lock from pyproject.toml + requirements/cpu.in (pip-tools in a side venv)
lock:
	test -x .lockenv/bin/pip-compile || ($(PYTHON) -m venv .lockenv && .lockenv/bin/pip install -q pip-tools==7.6.2)
	.lockenv/bin/pip-compile -q --strip-extras --extra dev --allow-unsafe --no-emit-index-url \
	  --no-emit-find-links --no-emit-trusted-host --output-file requirements/cpu.lock pyproject.toml requirements/cpu.in

clean:
	rm -rf outputs/* .pytest_cache .hypothesis
