# Everything a fresh machine needs is installed by these targets into .venv (Python 3.11+).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PROFILE ?=
ATLAS_OPTIONS ?=
TEST_WORKERS ?= 2

# GPU=1 where nvidia-smi lists a GPU, else 0; `make atlas GPU=0` or `GPU=1` overrides the detection. With GPU=1 the
# install adds the `cuda` extra (JAX with its CUDA 12 plugin: JAX is what was measured on GPUs, docs/performance.md)
# and `make atlas` builds on JAX, so `--profile auto` finds the GPU and chooses the full atlas.
ifeq ($(origin GPU),undefined)
GPU := $(shell nvidia-smi --list-gpus 2>/dev/null | grep -q '^GPU [0-9]' && echo 1 || echo 0)
endif
ifneq ($(filter-out 0 1,$(GPU)),)
$(error GPU must be 0 or 1, got '$(GPU)')
endif
# One stamp per variant: switching GPU on or off installs that variant's extras instead of trusting the other's.
# A KERAS_BACKEND given in the environment or on the command line wins over the GPU variant's jax.
ifeq ($(GPU),1)
EXTRAS := test,cuda
STAMP := $(VENV)/.installed-stamp-cuda
ATLAS_BACKEND := $(or $(KERAS_BACKEND),jax)
else
EXTRAS := test
STAMP := $(VENV)/.installed-stamp
ATLAS_BACKEND := $(KERAS_BACKEND)
endif

.PHONY: install atlas test lint test-fast serve screenshots bench bench-quality clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRAS)]"
	touch $(STAMP)

install: $(STAMP)

## make atlas: build the default atlas (atlas.toml) into site/; PROFILE=full|preview to choose; GPU=0|1 (above).
atlas: $(STAMP)
	$(if $(ATLAS_BACKEND),KERAS_BACKEND=$(ATLAS_BACKEND) )$(BIN)/atlas build --config atlas.toml $(if $(PROFILE),--profile $(PROFILE)) $(ATLAS_OPTIONS)

## make test: lint, then the whole suite on TensorFlow (real-model tests included), then again on JAX (without the
## real model and without the tests marked backend_free: conftest.py says which).
## TEST_WORKERS: test processes per pass (pytest-xdist); one process keeps about one core busy (docs/testing.md).
test: lint
	$(BIN)/python -m pytest -q --durations=12 -n $(TEST_WORKERS) --dist loadgroup
	KERAS_BACKEND=jax $(BIN)/python -m pytest -q --durations=12 -n $(TEST_WORKERS) --dist loadgroup -m "not slow and not backend_free"

# The suite's tolerances were set with JAX on the CPU: it stays there where the cuda extra is installed too.
test test-fast: export JAX_PLATFORMS ?= cpu

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
