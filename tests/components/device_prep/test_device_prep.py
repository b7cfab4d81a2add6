"""DevicePrep's own checks; what it changes as root (groups, folder owner) is proven on the
bare arm64 root by the device tier (tests/device)."""

from __future__ import annotations

import os
import pwd
import stat
from pathlib import Path

import pytest

from components.device_prep.__main__ import LOG_FOLDER_MODE, main, own_folder
from components.device_prep.config import SPEC

ME = pwd.getpwuid(os.getuid()).pw_name


def test_an_unknown_user_is_refused_before_anything_changes(tmp_path: Path) -> None:
    folder = tmp_path / "log"
    assert main(["--user", "no-such-user-here", "--log-folder", str(folder)]) == 2
    assert not folder.exists()


def test_a_relative_folder_is_refused(tmp_path: Path) -> None:
    assert main(["--user", ME, "--log-folder", "var/lib/floorline"]) == 2


def test_the_folder_is_made_once_then_left_alone(tmp_path: Path) -> None:
    folder = tmp_path / "a" / "log"
    assert own_folder(str(folder), ME) is True
    st = folder.stat()
    assert stat.S_IMODE(st.st_mode) == LOG_FOLDER_MODE
    assert (st.st_uid, st.st_gid) == (os.getuid(), pwd.getpwnam(ME).pw_gid)
    assert own_folder(str(folder), ME) is False
    folder.chmod(0o777)
    assert own_folder(str(folder), ME) is True
    assert stat.S_IMODE(folder.stat().st_mode) == LOG_FOLDER_MODE


def test_a_missing_group_is_skipped_and_said(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    code = main(["--user", ME, "--groups", "no-such-group-x", "--log-folder", str(tmp_path / "l")])
    assert code == 0
    assert "event=group_missing group=no-such-group-x" in caplog.text


def test_bad_values_are_named_before_anything_changes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "log"
    code = main(["--user", ME, "--groups", "i2c,-rf", "--log-folder", str(folder)])
    assert code == 2 and not folder.exists()
    assert "event=bad_config key=supplementaryGroups" in caplog.text
    assert "'-rf' is not a user or group name" in caplog.text


def test_the_settings_parse_the_recipe_shape() -> None:
    cfg = SPEC.parse({"supplementaryGroups": " i2c, ,gpio,"})
    assert cfg.supplementaryGroups == ("i2c", "gpio")
    assert SPEC.parse({}).supplementaryGroups == ("i2c", "gpio", "dialout")
    assert SPEC.parse({"supplementaryGroups": ""}).supplementaryGroups == ()
