# Everything a fresh machine needs is installed by these targets into .venv (Python 3.11+).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PROFILE ?=
ATLAS_OPTIONS ?=
TEST_WORKERS ?= 2

.PHONY: install atlas test lint test-fast serve screenshots bench bench-quality clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

## make atlas: build the default atlas (atlas.toml) into site/; PROFILE=full|preview to choose.
atlas: $(STAMP)
	$(BIN)/atlas build --config atlas.toml $(if $(PROFILE),--profile $(PROFILE)) $(ATLAS_OPTIONS)

## make test: lint, then the whole suite on TensorFlow (real-model tests included), then again on JAX (without the
## real model and without the tests marked backend_free: conftest.py says which).
## TEST_WORKERS: test processes per pass (pytest-xdist); one process keeps about one core busy (docs/testing.md).
test: lint
	$(BIN)/python -m pytest -q --durations=12 -n $(TEST_WORKERS) --dist loadgroup
	KERAS_BACKEND=jax $(BIN)/python -m pytest -q --durations=12 -n $(TEST_WORKERS) --dist loadgroup -m "not slow and not backend_free"

lint: $(STAMP)
	$(BIN)/ruff check .

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadgroup -m "not slow"

## make serve: look at site/ on http://localhost:8000/
serve:
	$(PYTHON) -m http.server --directory site 8000

## make screenshots: pictures of the built site for the README (needs chromium and chromium-driver).
screenshots: $(STAMP)
	$(BIN)/python docs/screenshots.py site

bench-quality: $(STAMP)
	$(BIN)/python bench/quality.py --figure docs/classic-vs-fourier.png

## make bench: throughput (seed loop vs batched, the default atlas end to end) and the dataset-example scan.
bench: $(STAMP)
	$(BIN)/python bench/throughput.py
	$(BIN)/python bench/examples_scan.py

clean:
	rm -rf site .pytest_cache
