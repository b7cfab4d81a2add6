# One entry point for people and CI. `make test` and `make demo` work on a fresh clone.
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
EXTRAS  ?= dev

.PHONY: venv system-deps test test-fast test-nucleus test-device device-image lint bench demo clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[$(EXTRAS)]'
	touch $(STAMP)

venv: $(STAMP)

# Debian packages the tests and the simulation use (a real Mosquitto broker).
system-deps:
	@(command -v mosquitto && command -v chromium && command -v chromedriver && command -v cmake) >/dev/null 2>&1 \
		|| scripts/install-system-deps.sh

test: system-deps venv
	$(BIN)/python -m pytest -q -m "not nucleus and not device"

# The real-nucleus tier: AWS's Greengrass nucleus lite built from ../shared/greengrass-lite
# (cached in ~/.cache/floorline/gg-lite) with floorline's components. Needs root and cgroup v2.
test-nucleus: system-deps venv
	$(BIN)/python -m pytest -q -m nucleus tests/nucleus

test-fast: venv
	$(BIN)/python -m pytest -q -m "not slow and not e2e and not device and not nucleus"

# The device tier: the built artifacts on a 64-bit Debian bookworm root (Raspberry Pi OS's base)
# under QEMU user emulation, and natively (amd64). Needs root; the image is built once and
# cached outside the repository (scripts/device-image.sh).
device-image:
	scripts/device-image.sh

test-device: venv device-image
	$(BIN)/python -m pytest -q -m device tests/device

lint: venv
	$(BIN)/ruff check components edge_sim cloud tests bench
	$(BIN)/ruff format --check components edge_sim cloud tests bench
	$(BIN)/mypy components edge_sim cloud
	$(BIN)/lint-imports --no-logo

bench: venv
	$(BIN)/python -m bench $(if $(NAB_DIR),--nab $(NAB_DIR),)

demo: system-deps venv
	rm -rf demo-out
	$(BIN)/python -m edge_sim run --devices 3 --duration 120 --out demo-out

clean:
	rm -rf $(VENV) .pytest_cache demo-out greengrass-build
