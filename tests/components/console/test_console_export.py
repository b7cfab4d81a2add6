import json
import sqlite3
import threading
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from console_world import BUDGET, DEVICE
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from waiting import wait_for

from components.console import export
from components.console.__main__ import main
from components.core.envelope import Record
from components.lib import export as export_format

UPLINKS = ("uplink-iot", "uplink-kinesis")


def _held_identities(path):
    """Oracle straight from the log's tables: every (device, stream, seq) held."""
    conn = sqlite3.connect(path)
    try:
        out = []
        for table in ("rec_raw", "rec_health", "rec_aggregate", "rec_event", "rec_alert"):
            out += conn.execute(
                f"SELECT s.device, s.stream, r.seq FROM {table} r JOIN streams s ON s.id = r.sid"
            ).fetchall()
        return out
    finally:
        conn.close()


def _export(site, tmp_path, captured, *extra):
    dest = tmp_path / "stick"
    dest.mkdir(exist_ok=True)
    rc = main(
        ["buffer", "export", "--to", str(dest), "--config", str(site.config_file), *extra],
        clock=site.clock,
        console=captured.console,
    )
    assert rc == 0, captured.text
    (folder,) = export_format.export_folders(dest)
    return folder


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_export_all_round_trip_is_exactly_once(site, tmp_path, captured, fmt):
    lg = site.open()
    try:
        consumers_before = lg.consumers()
        backlog_before = lg.stats()["backlog"]
        by_identity = {r.identity: r for r in lg.read("analytics", limit=10**6)}
        by_identity.update({r.identity: r for c in UPLINKS for r in lg.read(c, limit=10**6)})
    finally:
        lg.close()
    folder = _export(site, tmp_path, captured, "--all", "--format", fmt)
    manifest = json.loads((folder / "manifest.json").read_text())
    records = list(export_format.read_export(folder))
    ids = [r.identity for r in records]
    assert len(ids) == len(set(ids))  # once
    assert Counter(ids) == Counter(map(tuple, _held_identities(site.path)))  # every one
    assert manifest["records"] == len(records)
    assert sum(f["records"] for f in manifest["files"]) == len(records)
    for s in manifest["streams"]:
        seqs = [r.seq for r in records if r.stream == s["stream"]]
        assert (min(seqs), max(seqs), len(seqs)) == (s["first_seq"], s["last_seq"], s["records"])
    # the records read back are the records the log hands its consumers, field for field
    assert all(r == by_identity[r.identity] for r in records)
    # the export did not disturb the uplink: offsets and backlog as before
    lg = site.open()
    try:
        assert lg.consumers() == consumers_before
        assert lg.stats()["backlog"] == backlog_before
    finally:
        lg.close()


def test_parquet_columns_are_the_declared_ones(site, tmp_path, captured):
    folder = _export(site, tmp_path, captured, "--all")
    schema = pq.read_schema(folder / "raw.parquet")
    assert schema.names == list(export_format.COLUMN_NAMES)
    assert str(schema.field("seq").type) == "int64"
    assert str(schema.field("payload").type) == "string"
    assert schema.field("wall_corrected_ms").nullable
    table = pq.read_table(folder / "alert.parquet")
    row = table.to_pylist()[0]
    assert row["device"] == DEVICE and json.loads(row["payload"])["rule"] == "temp_high"


def test_backlog_export_then_reconnect_gives_each_record_once_in_the_lake(site, tmp_path, captured):
    # The Kinesis uplink got part of the outage through before the link died for good;
    # analytics still holds those records, so they stay in the log but are not backlog.
    lg = site.open()
    try:
        partial = lg.read("uplink-kinesis", limit=5000)
        lg.ack("uplink-kinesis", partial)
        unsent = {r.identity for c in UPLINKS for r in lg.read(c, limit=10**6)}
    finally:
        lg.close()
    folder = _export(site, tmp_path, captured)  # backlog only
    exported = [r.identity for r in export_format.read_export(folder)]
    assert set(exported) == unsent and len(exported) == len(unsent)
    assert not {r.identity for r in partial} & set(exported)
    # Later the site reconnects and the uplink sends everything it had not sent. The lake
    # keeps one record per identity: what arrives twice is removed, nothing is missing.
    lg = site.open()
    try:
        uplinked = [r.identity for c in UPLINKS for r in lg.read(c, limit=10**6)]
    finally:
        lg.close()
    lake = Counter(exported) + Counter(uplinked) + Counter(r.identity for r in partial)
    assert set(lake) == unsent | {r.identity for r in partial}
    assert max(lake.values()) == 2  # the overlap the dedup removes


def test_tampered_file_is_refused_before_any_record(site, tmp_path, captured):
    folder = _export(site, tmp_path, captured, "--all", "--format", "csv")
    path = folder / "alert.csv"
    data = path.read_bytes()
    path.write_bytes(data.replace(b"temp_high", b"temp_hgih", 1))  # same size, one swap
    it = export_format.read_export(folder)
    with pytest.raises(export_format.ExportInvalid, match="sha256"):
        next(it)


def test_a_manifest_that_disagrees_with_the_files_is_refused(site, tmp_path, captured):
    folder = _export(site, tmp_path, captured, "--all")
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["streams"][0]["records"] += 1
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(export_format.ExportInvalid, match="manifest says"):
        for _ in export_format.read_export(folder):
            pass


def test_unfinished_export_without_manifest_is_refused(site, tmp_path, captured):
    folder = _export(site, tmp_path, captured, "--all")
    (folder / "manifest.json").unlink()
    with pytest.raises(export_format.ExportInvalid, match="missing"):
        next(export_format.read_export(folder))


def test_missing_destination_exits_3(site, tmp_path, captured):
    rc = main(
        ["buffer", "export", "--to", str(tmp_path / "no-stick"), "--config", str(site.config_file)],
        clock=site.clock,
        console=captured.console,
    )
    assert rc == 3 and "not a folder" in captured.text


@pytest.mark.slow
def test_two_exports_in_the_same_second_both_land_and_the_hint_imports_them(
    site, tmp_path, captured
):
    """The clock does not move between the two (the same second): the second export gets its
    own folder, and the printed import line is one the lake's CLI accepts as it stands."""
    import shlex

    from cloud.lake.__main__ import main as lake_main

    dest = tmp_path / "stick"
    dest.mkdir()
    argv = ["buffer", "export", "--all", "--to", str(dest), "--config", str(site.config_file)]
    assert main(argv, clock=site.clock, console=captured.console) == 0
    assert main(argv, clock=site.clock, console=captured.console) == 0, captured.text
    first, second = export_format.export_folders(dest)
    assert second.name == first.name + "-2"
    assert [r.identity for r in export_format.read_export(first)] == [
        r.identity for r in export_format.read_export(second)
    ]
    hint = [line for line in captured.text.splitlines() if "cloud.lake import" in line][-1]
    words = shlex.split(hint.split("import it with: ", 1)[1])
    assert words[:3] == ["python", "-m", "cloud.lake"] and str(second) in words
    lake_argv = ["--root", str(tmp_path / "lake"), *words[3:]]
    assert lake_main(lake_argv) == 0


# --------------------------------------------------------------------------- outside input
_FIXTURE_OK = [HealthCheck.function_scoped_fixture]  # tmp_path is only a scratch folder here
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
    max_leaves=10,
)


@settings(max_examples=100, deadline=None, suppress_health_check=_FIXTURE_OK)
@given(
    st.dictionaries(
        st.sampled_from(
            ["format", "version", "file_format", "columns", "files", "streams", "records", "device"]
        ),
        _json_values,
    )
    | st.binary(max_size=64).map(lambda b: b.decode("latin-1"))
)
def test_any_manifest_is_either_valid_or_export_invalid(tmp_path, manifest):
    folder = tmp_path / "m"
    folder.mkdir(exist_ok=True)
    body = (
        manifest
        if isinstance(manifest, str)
        else json.dumps(
            {
                "format": export_format.EXPORT_FORMAT,
                "version": 1,
                "file_format": "csv",
                "columns": list(export_format.COLUMN_NAMES),
                **manifest,
            }
        )
    )
    (folder / "manifest.json").write_text(body, encoding="utf-8")
    try:
        list(export_format.read_export(folder))
    except export_format.ExportInvalid:
        pass  # the only acceptable way to refuse


@settings(max_examples=100, deadline=None, suppress_health_check=_FIXTURE_OK)
@given(
    st.lists(
        st.dictionaries(
            st.text(min_size=1, max_size=8),
            st.text(max_size=20)
            | st.integers()
            | st.booleans()
            | st.floats(allow_nan=False, allow_infinity=False),
            max_size=4,
        ),
        min_size=1,
        max_size=5,
    )
)
def test_csv_rows_round_trip_any_payload(tmp_path, payloads):
    records = [
        Record(
            DEVICE,
            "env/x@1",
            i + 1,
            "raw",
            10**12 + i,
            1_767_225_600_000 + i,
            i % 2 == 0,
            p,
            1,
            None if i % 3 else 1_767_225_600_500,
        )
        for i, p in enumerate(payloads)
    ]
    path = tmp_path / "raw.csv"
    w = export._CsvWriter(path)
    w.write([export_format.record_to_row(r) for r in records])
    w.close()
    back = [export_format.row_to_record(r) for r in export_format._iter_rows(Path(path), "csv")]
    assert back == records


def _export_with_file(folder: Path, name: str, body: bytes, fmt: str, records: int) -> None:
    """A manifest that vouches for `body` (right size and hash): only the content is wrong."""
    import hashlib

    folder.mkdir(exist_ok=True)
    (folder / name).write_bytes(body)
    (folder / "manifest.json").write_text(
        json.dumps(
            {
                "format": export_format.EXPORT_FORMAT,
                "version": 1,
                "file_format": fmt,
                "columns": list(export_format.COLUMN_NAMES),
                "device": DEVICE,
                "records": records,
                "files": [
                    {
                        "name": name,
                        "cls": "raw",
                        "records": records,
                        "bytes": len(body),
                        "sha256": hashlib.sha256(body).hexdigest(),
                    }
                ],
                "streams": [
                    {
                        "device": DEVICE,
                        "stream": "env/x@1",
                        "cls": "raw",
                        "first_seq": 1,
                        "last_seq": records,
                        "records": records,
                    }
                ],
            }
        )
    )


_HEADER = ",".join(export_format.COLUMN_NAMES).encode() + b"\r\n"


@settings(max_examples=150, deadline=None, suppress_health_check=_FIXTURE_OK)
@given(
    st.binary(max_size=300)
    | st.lists(
        st.sampled_from(
            [
                b"dev-001",
                b"env/x@1",
                b"1",
                b"-3",
                b"raw",
                b"true",
                b"maybe",
                b"",
                b'{"a":1}',
                b"[1]",
                b"\x00",
                b"\xff\xfe",
                b'"',
                b"\r\n",
                b",",
                b"99999999999999999999999",
            ]
        ),
        max_size=40,
    ).map(b"".join)
)
def test_any_csv_content_is_read_or_refused_as_export_invalid(tmp_path, body):
    folder = tmp_path / "csvfuzz"
    _export_with_file(folder, "raw.csv", _HEADER + body, "csv", 1)
    try:
        list(export_format.read_export(folder))
    except export_format.ExportInvalid:
        pass  # the only acceptable way to refuse


@settings(max_examples=50, deadline=None, suppress_health_check=_FIXTURE_OK)
@given(st.binary(max_size=200))
def test_any_parquet_content_is_refused_as_export_invalid(tmp_path, body):
    folder = tmp_path / "pqfuzz"
    _export_with_file(folder, "raw.parquet", b"PAR1" + body + b"PAR1", "parquet", 1)
    with pytest.raises(export_format.ExportInvalid):
        list(export_format.read_export(folder))


def test_export_while_the_components_keep_writing_is_a_consistent_snapshot(site, tmp_path):
    """A sensor keeps appending (its own connection, as another process would) and the uplink
    keeps acknowledging while the export runs: the export is one snapshot (per stream a run of
    sequence numbers without holes), verifies, and no append failed or waited for it."""
    from components.core.clock import SystemClock
    from components.core.log import Log

    def evicted_raw():
        with Log.open(site.path, device=DEVICE, free_floor_bytes=0) as lg:
            return sum(lg.stats()["evicted"]["raw"].values())

    evicted_before = evicted_raw()
    stop = threading.Event()
    appended, errors = [], []

    def sensor():
        # the site's small budget: the writer evicts the oldest raw rows as the export reads
        with Log.open(
            site.path, device=DEVICE, budget_bytes=BUDGET, free_floor_bytes=0, clock=SystemClock()
        ) as writer:
            while not stop.is_set():
                try:
                    appended.extend(
                        writer.append_batch(
                            "env/bme280@0x76",
                            "raw",
                            [{"temperature_c": 20.0, "humidity_pct": 40.0} for _ in range(50)],
                        )
                    )
                    writer.ack("uplink-iot", writer.read("uplink-iot", limit=5))
                except Exception as exc:  # noqa: BLE001 (reported by the assertion below)
                    errors.append(exc)
                    return

    t = threading.Thread(target=sensor)
    t.start()
    try:
        wait_for(lambda: len(appended) >= 200 or errors, what="the writer running")
        with Log.open(site.path, device=DEVICE, free_floor_bytes=0) as lg:
            result = export.write_export(
                lg,
                tmp_path,
                fmt="parquet",
                device=DEVICE,
                now_wall_ms=site.clock.wall_ms(),
                scope="all",
            )
    finally:
        stop.set()
        t.join(timeout=60)
    assert errors == []
    assert evicted_raw() > evicted_before  # the writer evicted while the export read
    records = list(export_format.read_export(result.folder))
    by_stream = {}
    for r in records:
        by_stream.setdefault(r.stream, []).append(r.seq)
    for seqs in by_stream.values():
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # no holes: one snapshot
    assert len(appended) > 200


@pytest.mark.slow
def test_export_into_the_local_lake_then_the_uplink_catches_up_exactly_once(
    site, tmp_path, captured
):
    """The stick is loaded into the lake (cloud/lake, its identity index), then the site
    reconnects and the uplink delivers its whole backlog: the lake holds every identity once,
    and what arrived twice is counted as duplicates dropped."""
    from cloud.lake.__main__ import main as lake_cli
    from cloud.lake.query import query
    from cloud.lake.store import Lake

    folder = _export(site, tmp_path, captured)
    exported = list(export_format.read_export(folder))
    lake_root = str(tmp_path / "lake")
    # The technician's command: verified to its end, then loaded with dedup by identity.
    assert lake_cli(["--root", lake_root, "import", str(folder), "--site", "site-1"]) == 0
    assert lake_cli(["--root", lake_root, "import", str(folder), "--site", "site-1"]) == 0
    with Lake(lake_root, clock=site.clock) as lake:
        assert lake.stats()["rows_written"] == len(exported)  # the second import added none
        assert lake.stats()["duplicates_dropped"] == len(exported)
        lg = site.open()
        try:  # the site kept measuring after the stick left, then the link came back
            later = lg.append_batch(
                "env/bme280@0x76", "raw", [{"temperature_c": 19.0, "humidity_pct": 50.0}] * 100
            )
            uplinked = [r for c in UPLINKS for r in lg.read(c, limit=10**6)]
        finally:
            lg.close()
        second = lake.ingest_records("site-1", uplinked)
        overlap = {r.identity for r in exported} & {r.identity for r in uplinked}
        assert second.duplicates == len(overlap) > 0
        assert second.rows_written == len(uplinked) - len(overlap) >= len(later)
        identities = {r.identity for r in exported} | {r.identity for r in uplinked}
        _, rows = query(lake, "SELECT device, stream, seq FROM telemetry")
        assert len(rows) == len(set(rows)) == len(identities)
        assert set(rows) == identities


def test_a_tampered_export_is_refused_by_the_lake_import_and_nothing_is_loaded(
    site, tmp_path, captured
):
    from cloud.lake.__main__ import main as lake_cli
    from cloud.lake.store import Lake

    folder = _export(site, tmp_path, captured)
    data_file = next(p for p in folder.iterdir() if p.suffix in (".parquet", ".csv"))
    raw = bytearray(data_file.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    data_file.write_bytes(bytes(raw))
    lake_root = str(tmp_path / "lake")
    assert lake_cli(["--root", lake_root, "import", str(folder), "--site", "site-1"]) == 2
    with Lake(lake_root, clock=site.clock) as lake:
        assert lake.stats().get("rows_written", 0) == 0
