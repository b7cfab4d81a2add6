"""Fixtures over the site log of console_world.py."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
from console_world import DEVICE, Site, build_site
from rich.console import Console

from components.core.clock import ManualClock


@pytest.fixture(autouse=True)
def _thing_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """The device name comes from the environment, as the nucleus sets it."""
    monkeypatch.setenv("AWS_IOT_THING_NAME", DEVICE)
    for var in ("FLOORLINE_CONSOLE_CONFIG", "FLOORLINE_CONFIG"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(scope="session")
def _site_template(tmp_path_factory: pytest.TempPathFactory) -> Site:
    return build_site(tmp_path_factory.mktemp("site-template"))


@pytest.fixture
def site(_site_template: Site, tmp_path: Path) -> Site:
    """A private copy of the site log (built once per session: appends take a second)."""
    t = _site_template
    for suffix in ("", "-wal"):
        src = Path(f"{t.path}{suffix}")
        if src.exists():
            shutil.copyfile(src, tmp_path / f"log.db{suffix}")
    config = {
        **t.config,
        "logPath": str(tmp_path / "log.db"),
        "greengrassRoot": str(tmp_path / "greengrass"),
    }
    config_file = tmp_path / "console.json"
    config_file.write_text(json.dumps(config))
    clock = ManualClock(wall_ms=t.clock.wall_ms(), mono_ns=t.clock.monotonic_ns())
    return Site(tmp_path / "log.db", clock, config, config_file, t.outage_started_wall_ms)


class Captured:
    def __init__(self) -> None:
        self.buffer = io.StringIO()
        self.console = Console(file=self.buffer, width=220, color_system=None)

    @property
    def text(self) -> str:
        return self.buffer.getvalue()


@pytest.fixture
def captured() -> Captured:
    return Captured()
