"""The real-nucleus tier skips only where nucleus lite's sources are absent, and says where to
get them; anywhere else a missing tool fails it."""

from __future__ import annotations

from pathlib import Path

import lite_kit
import pytest


def test_absent_sources_skip_with_where_to_get_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lite_kit, "KIT", tmp_path / "greengrass-lite")
    monkeypatch.setattr(lite_kit, "LITE_SH", tmp_path / "greengrass-lite" / "lite.sh")
    reason = lite_kit.skip_reason()
    assert reason is not None
    assert "aws-greengrass-lite" in reason and "v2.6.0" in reason
    (tmp_path / "greengrass-lite").mkdir()
    (tmp_path / "greengrass-lite" / "lite.sh").write_text("#!/bin/sh\n")
    assert lite_kit.skip_reason() is not None  # the script without the sources is not enough
    (tmp_path / "greengrass-lite" / "gg-lite-2.6.0-src.tar.gz").write_bytes(b"")
    assert lite_kit.skip_reason() is None


def test_the_kit_is_found_beside_the_repository() -> None:
    assert lite_kit.KIT == lite_kit.REPO_ROOT.parent / "shared" / "greengrass-lite"
