#!/usr/bin/env bash
# Installs the Debian packages floorline's simulation and tests need.
# Other platforms: install Mosquitto >= 2.0 from your package manager (brew install mosquitto).
set -euo pipefail
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
# chromium + chromium-driver: the fleet dashboard's browser tests (Selenium is given both paths).
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq mosquitto chromium chromium-driver \
    >/dev/null
# The packaged service is not wanted: edge_sim starts its own broker per run.
$SUDO systemctl disable --now mosquitto >/dev/null 2>&1 || true
