# Set-up and entry points. `make demo` and `make test` do all set-up on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
# spikingjelly needs torchvision; this pair lies on local disk on the project machines
# (any other pair downloads several GB). A user with a GPU installs their own CUDA torch first.
TORCH_PINS ?= torch==2.14.1 torchvision==0.29.1
STAMP   = $(VENV)/.depthsnn-installed

# lava-dl netx (Loihi 2) needs its own Python 3.10 environment (design.md s.9: torch < 2.4, numpy < 2).
LAVA_PYTHON ?= python3.10
LAVA_VENV   ?= .venv-lava
LAVA_STAMP   = $(LAVA_VENV)/.lava-installed
INTEROP     ?= build/interop

.PHONY: venv demo test lint bench clean interop

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -c "import torch, torchvision" 2>/dev/null || $(BIN)/pip install -q $(TORCH_PINS)
	$(BIN)/pip install -q -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/depthsnn demo

test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

# Export the portable chain presets as lava-dl netx HDF5 and run them in netx (Loihi2SimCfg, fixed
# point) against depthsnn's simulator: spikes per block and output potential must be equal.
interop: $(STAMP) $(LAVA_STAMP)
	for p in snn-portable-tiny snn-portable-small; do \
		$(BIN)/python -m depthsnn.vendors.netx $(INTEROP)/$$p $$p && \
		$(LAVA_VENV)/bin/python interop/netx_check.py $(INTEROP)/$$p || exit 1; \
	done

$(LAVA_STAMP):
	test -x $(LAVA_VENV)/bin/python || $(LAVA_PYTHON) -m venv $(LAVA_VENV)
	$(LAVA_VENV)/bin/pip install -q "lava-dl==0.6.0" "torch>=2.3.1,<2.4" "numpy<2" h5py
	touch $(LAVA_STAMP)

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .ruff_cache
