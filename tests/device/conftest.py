"""The device tier (`make test-device`; marker `device`, left out of `make test`): the built
artifacts on a 64-bit Debian bookworm root under QEMU user emulation, and natively (amd64).
Needs root (chroot, unshare, mounting binfmt_misc) and, once, the network for the image
(scripts/device-image.sh, cached outside the repository)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloud.greengrass import layout
from cloud.greengrass.build import BuiltComponent, build

IMAGE_SCRIPT = layout.REPO_ROOT / "scripts" / "device-image.sh"


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, BuiltComponent]:
    """Every component built as publish uploads it (the suite left out: no code)."""
    out = tmp_path_factory.mktemp("greengrass-build")
    return {n: b for n, b in build(out=out).items() if b.artifact_zip is not None}


@pytest.fixture(scope="session")
def device_image() -> Path:
    done = subprocess.run([str(IMAGE_SCRIPT)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return Path(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def short_tmp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A short folder: the nucleus socket path inside it must stay under 108 bytes."""
    yield tmp_path_factory.mktemp("dev")
