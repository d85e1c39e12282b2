# sitewatch — the two commands: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PACKAGES := mosquitto mosquitto-clients \
	python3-gi gir1.2-gstreamer-1.0 gir1.2-gst-rtsp-server-1.0 \
	gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad \
	chromium \
	postgresql fonts-noto-cjk

.PHONY: demo demo-fleet test test-train lint typecheck unit system-deps python-deps venv schema clean

# Debian packages: $(1) is the list; python3-venv too when this Python lacks ensurepip.
define apt_install
	@missing=""; for p in $(1); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; done; \
	if ! $(PYTHON) -c 'import ensurepip' >/dev/null 2>&1; then missing="$$missing python3-venv"; fi; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi
endef

system-deps:
	$(call apt_install,$(APT_PACKAGES))

python-deps:
	$(call apt_install,)

$(BIN)/python: | python-deps
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q --disable-pip-version-check -e '.[dev]'
	touch $@

venv: $(VENV)/.installed-dev

demo: venv
	$(BIN)/sitewatch demo --config config/demo.yaml

# A street office on this machine: PostgreSQL, a central mosquitto, three edges on the demo
# scene (one behind a bridged local mosquitto) and the hub; prints the console's address.
demo-fleet: system-deps venv
	$(BIN)/python -m hub.demo_fleet

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: venv
	$(BIN)/mypy

unit: venv
	$(BIN)/pytest

test: system-deps venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/sitewatch schema --check config/schema.json
	$(BIN)/pytest

# Training needs torch (the heavy `train` extra) in its own venv; not part of `make test`.
# TORCH_SPEC picks the torch build (this pin is the one on the build machines' local disk).
TRAIN_VENV := .venv-train
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1

$(TRAIN_VENV)/.installed: pyproject.toml | python-deps
	$(PYTHON) -m venv $(TRAIN_VENV)
	$(TRAIN_VENV)/bin/pip install -q --disable-pip-version-check $(TORCH_SPEC)
	$(TRAIN_VENV)/bin/pip install -q --disable-pip-version-check -e '.[train,dev]'
	touch $@

# A tiny end-to-end training (generated images, one epoch), export and inference with our engine;
# the INT8 copy (lab.quantize).
test-train: $(TRAIN_VENV)/.installed
	$(TRAIN_VENV)/bin/pytest -m train tests/test_training.py tests/test_quantize.py

schema: venv
	$(BIN)/sitewatch schema config/schema.json

clean:
	rm -rf $(VENV) $(TRAIN_VENV) data .mypy_cache .ruff_cache .pytest_cache
