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
# The real-nucleus tier (make test-nucleus) builds AWS's nucleus lite: its compilers and
# libraries (../shared/greengrass-lite/lite.sh deps lists the same), openssl for the broker's
# certificates, unshare/nsenter and ip for its namespace.
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    build-essential pkg-config cmake libssl-dev libcurl4-openssl-dev uuid-dev libzip-dev \
    libsqlite3-dev libyaml-dev libsystemd-dev libevent-dev liburiparser-dev \
    mosquitto-clients openssl util-linux iproute2 python3-venv >/dev/null
# The packaged service is not wanted: edge_sim starts its own broker per run.
$SUDO systemctl disable --now mosquitto >/dev/null 2>&1 || true
