# Two commands do all set-up on a fresh machine: `make report` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: report test test-spark venv clean bench

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	@# ltfu's own bytecode, once: where PYTHONDONTWRITEBYTECODE is set (CI images, containers) the
	@# editable install's modules would otherwise be compiled again by every run (0.2 s)
	$(PY) -m compileall -q src
	@touch $(STAMP)

venv: $(STAMP)

report: $(STAMP)
	$(VENV)/bin/ltfu report --demo --out report

test: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/mypy
	$(PY) -m pytest -q -n auto --dist loadfile

# Spark in local mode equals DuckDB and numpy (needs Java; installs the spark extra). Apart from
# `make test` because starting the JVM and Spark's queries take 1-3 minutes on 2 cores.
test-spark: $(STAMP)
	$(PY) -m pip install --quiet -e '.[spark,test]'
	$(PY) -m pytest -q -m spark

bench: $(STAMP)
	$(PY) benchmarks/run.py
	$(PY) benchmarks/report_times.py
	$(PY) benchmarks/study.py

clean:
	rm -rf $(VENV) report
