# Two commands matter: `make demo` runs the main job on the built-in emulator, `make test`
# runs the tests. Each creates or refreshes .venv and installs what it needs. `make check` runs
# the gates CI runs before the tests: ruff (lint and format) and mypy.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test test-without-uvloop check ui bench install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Re-install whenever pyproject.toml changes.
$(VENV)/.installed-base: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@ $(VENV)/.installed-base

install: $(VENV)/.installed-base

demo: $(VENV)/.installed-base
	$(BIN)/llmeter-flows demo $(if $(RESULTS),--results $(RESULTS),)

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest

# The engine's tests as on a machine without uvloop (it is an optional extra): a stand-in
# package first on PYTHONPATH makes `import uvloop` fail here and in every child process.
test-without-uvloop: $(VENV)/.installed-test
	LLMETER_TEST_WITHOUT_UVLOOP=1 PYTHONPATH=$(CURDIR)/tests/hide_uvloop$(if $(PYTHONPATH),:$(PYTHONPATH),) \
		$(BIN)/python -m pytest tests/core tests/endpoints tests/emulator tests/integration

check: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The UI's API URL follows PORT (otherwise the UI served on PORT calls port 4200).
ui: $(VENV)/.installed-base
	PREFECT_SERVER_ANALYTICS_ENABLED=false DO_NOT_TRACK=1 PREFECT_UI_API_URL=http://127.0.0.1:$(or $(PORT),4200)/api $(BIN)/prefect server start --host 127.0.0.1 --port $(or $(PORT),4200) --analytics-off

bench: $(VENV)/.installed-test
	$(BIN)/python benchmarks/engine_benchmark.py

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
