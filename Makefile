# Two entry points for a fresh machine: `make demo` and `make test`.
# Each creates .venv when it is missing. torch is installed first, as the CPU
# build 2.13.0, unless the environment already has a torch (GPU users: create
# .venv yourself and install the torch build for your CUDA first).

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.getsei-installed

.PHONY: demo test bench install clean arrhenius-demo docs

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install --quiet "torch==2.13.0"
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/getsei-live demo

# The demo at 650, 700 and 750 K (the temperatures its state model was trained at; each stops once converged),
# then the Arrhenius fit of their rates.
ARRHENIUS_K := 650 700 750

arrhenius-demo: $(STAMP)
	for T in $(ARRHENIUS_K); do $(VENV)/bin/getsei-live demo --temperature-K $$T --store demo-$$T.zarr || exit 1; done
	$(VENV)/bin/getsei-live arrhenius $(foreach T,$(ARRHENIUS_K),demo-$(T).zarr) -o arrhenius/

# Two test workers (pytest-xdist), one per core of the 2-core machines we test on; each test's own MD, torch and
# BLAS run single-threaded, so the two do not oversubscribe. Work stealing evens out the few long tests (measured
# 2026-12-07 on a fresh clone: 474 s; earlier, slow tests first with --dist load: 692 s against 541 s).
TEST_WORKERS ?= 2

test: $(STAMP)
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist worksteal --durations=10

docs: $(STAMP)
	$(PY) -m sphinx -W --keep-going -b html docs docs/_build/html

bench: $(STAMP)
	$(PY) benchmarks/bench_graphs.py
	$(PY) benchmarks/bench_assign.py
	$(PY) benchmarks/bench_observer.py
	$(PY) benchmarks/bench_replay.py

clean:
	rm -rf $(VENV) out .pytest_cache .hypothesis arrhenius $(foreach T,$(ARRHENIUS_K),demo-$(T).zarr)
