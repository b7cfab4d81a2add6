"""Forged and malformed exports against `python -m cloud.lake import`: identities the export
may not speak for, another site, numbers the lake cannot hold, payloads that blow the stack.
Each is refused with exit 2 and a message, and nothing is written."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from cloud.lake.__main__ import main as lake_cli
from cloud.lake.store import Lake
from components.console import export
from components.core.clock import ManualClock
from components.core.log import Log

OWNER, VICTIM = "dev-001", "dev-666"


def _export(
    tmp_path: Path, *, records_device: str, site: str | None = "site-1", fmt: str = "csv"
) -> Path:
    """A real export written by `write_export` from a log: its records name `records_device`
    while the export is `OWNER`'s."""
    clock = ManualClock()
    with Log.open(tmp_path / "log.db", device=OWNER, clock=clock, free_floor_bytes=0) as lg:
        lg.append_batch(
            "env/bme280@0x76", "raw", [{"t": 20.0 + i} for i in range(50)], device=records_device
        )
        stick = tmp_path / "stick"
        stick.mkdir()
        result = export.write_export(
            lg, stick, fmt=fmt, device=OWNER, site=site, now_wall_ms=clock.wall_ms(), scope="all"
        )
    return result.folder


def _lake_rows(root: Path) -> int:
    with Lake(root, clock=ManualClock()) as lake:
        return lake.stats().get("rows_written", 0)


def _import(tmp_path: Path, folder: Path, *extra: str) -> int:
    return lake_cli(["--root", str(tmp_path / "lake"), "import", str(folder), *extra])


def test_records_naming_another_device_are_refused(tmp_path, capsys):
    folder = _export(tmp_path, records_device=VICTIM)
    # Before: exit 0, and the victim's genuine records were later dropped as duplicates.
    assert _import(tmp_path, folder, "--site", "site-1") == 2
    assert VICTIM in capsys.readouterr().err
    assert _lake_rows(tmp_path / "lake") == 0
    # A gateway carrying a terminal's records: the importer names that device explicitly.
    assert _import(tmp_path, folder, "--site", "site-1", "--also-device", VICTIM) == 0
    assert _lake_rows(tmp_path / "lake") == 50


def test_an_export_of_another_site_is_refused(tmp_path, capsys):
    folder = _export(tmp_path, records_device=OWNER, site="site-1")
    assert _import(tmp_path, folder, "--site", "site-2") == 2
    assert "site-1" in capsys.readouterr().err
    assert _lake_rows(tmp_path / "lake") == 0


def _rewrite_payloads(
    folder: Path, payload_text: str, column: str = "payload", value: str | None = None
) -> None:
    """Change the first record of raw.csv and make the manifest vouch for it (size, hash):
    only the content is hostile."""
    path = folder / "raw.csv"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    header = lines[0].rstrip("\r\n").split(",")
    first = lines[1].rstrip("\r\n")
    cut = first.index(',"{') if ',"{' in first else first.rindex(",{")
    cells = first[:cut].split(",")
    if value is not None:
        cells[header.index(column)] = value
    quoted = '"' + payload_text.replace('"', '""') + '"'
    lines[1] = ",".join(cells) + "," + quoted + "\r\n"
    body = "".join(lines).encode("utf-8")
    path.write_bytes(body)
    manifest = json.loads((folder / "manifest.json").read_text())
    for f in manifest["files"]:
        if f["name"] == "raw.csv":
            f["bytes"], f["sha256"] = len(body), hashlib.sha256(body).hexdigest()
    (folder / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize(
    ("label", "payload", "column", "value"),
    [
        ("nan", '{"t": NaN}', "payload", None),
        ("infinity", '{"t": Infinity}', "payload", None),
        ("overflowing float", '{"t": 1e999}', "payload", None),
        ("nested 100000 deep", '{"t": ' + "[" * 100_000 + "]" * 100_000 + "}", "payload", None),
        ("seq past 64 bits", '{"t": 1}', "seq", str(1 << 70)),
        ("wall time past year 9999", '{"t": 1}', "wall_ms", str(1 << 62)),
        ("negative wall time", '{"t": 1}', "wall_ms", "-5"),
    ],
)
def test_malformed_records_are_refused_with_a_message_and_nothing_written(
    tmp_path, capsys, label, payload, column, value
):
    folder = _export(tmp_path, records_device=OWNER)
    _rewrite_payloads(folder, payload, column, value)
    # Before: OverflowError or RecursionError tracebacks, or NaN stored in the lake.
    assert _import(tmp_path, folder, "--site", "site-1") == 2, label
    assert "FAIL" in capsys.readouterr().err
    assert _lake_rows(tmp_path / "lake") == 0
