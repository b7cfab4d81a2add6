"""A hostile environment against the durable log: damage of every kind, a damaged WAL, a file
the component user may not read, several processes booting on one damaged file, a writer
that opened the file before it was moved aside, a salvager killed half-way.

The promise under attack: no identity (device, stream, seq) is ever handed out twice, and
what can be read is kept."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from components.core.log import Log
from components.core.log.file import move_aside
from components.core.log.seqmark import mark_path, read_mark

S = "env/bme280@0x76"
N = 3000
ROOT = Path(__file__).resolve().parents[2]


def _fill(path: Path, n: int = N, checkpoint: bool = True) -> None:
    with Log.open(path, device="dev-001", free_floor_bytes=0) as lg:
        for start in range(0, n, 100):
            lg.append_batch(S, "raw", [{"v": i} for i in range(start, start + 100)])
        if checkpoint:
            lg._db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _page_of(path: Path, table: str) -> int:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT rootpage FROM sqlite_master WHERE name=?", (table,)).fetchone()[
            0
        ]
    finally:
        conn.close()


def _overwrite(path: Path, offset: int, data: bytes) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


def _damage_header(path: Path) -> None:
    _overwrite(path, 0, os.urandom(16))


def _truncate_mid_page(path: Path) -> None:
    os.truncate(path, path.stat().st_size // 2 + 1000)


def _zero_schema_page(path: Path) -> None:
    _overwrite(path, 0, bytes(4096))


def _zero_streams_table(path: Path) -> None:
    _overwrite(path, (_page_of(path, "streams") - 1) * 4096, bytes(4096))


DAMAGE = {
    "header": _damage_header,
    "truncated_mid_page": _truncate_mid_page,
    "zeroed_schema_page": _zero_schema_page,
    "zeroed_streams_table": _zero_streams_table,
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_no_sequence_number_is_reused_whatever_the_damage(tmp_path, damage):
    path = tmp_path / "log.db"
    _fill(path)
    DAMAGE[damage](path)
    with Log.open(path, device="dev-001", free_floor_bytes=0) as lg:
        assert lg.stats()["counters"]["salvage_events"] == 1
        seqs = lg.append_batch(S, "raw", [{"v": N + i} for i in range(500)])
        # Before: seq restarted at 1 and the lake dropped these 500 as duplicates.
        assert min(seqs) > N
        held = [r.seq for r in lg.snapshot_records(["raw"])]
        assert len(held) == len(set(held))
    assert len(list(tmp_path.glob("log.db.corrupt-*"))) >= 1


def test_a_permission_error_is_an_error_not_corruption(tmp_path):
    _fill(tmp_path / "log.db", n=100)
    shared = Path(tempfile.mkdtemp())
    try:
        shared.chmod(0o777)
        path = shared / "log.db"
        for name in ("log.db", "log.db.seqmark"):
            shutil.copy(tmp_path / name, shared / name)
        path.chmod(0o600)
        before = path.read_bytes()
        status, message = _open_as_another_user(path)
        assert status == 3, message
        assert "cannot be read and written" in message
        assert not list(shared.glob("log.db.corrupt-*"))
        assert path.read_bytes() == before
    finally:
        shutil.rmtree(shared)


def _open_as_another_user(path: Path) -> tuple[int, str]:
    """Log.open in a forked child that is not the file's owner (root drops to nobody; no exec,
    so the interpreter need not be readable by that user)."""
    import pwd

    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        status, message = 1, ""
        try:
            os.close(r)
            if os.geteuid() == 0:
                nobody = pwd.getpwnam("nobody")
                os.setgid(nobody.pw_gid)
                os.setuid(nobody.pw_uid)
            else:
                path.chmod(0)
            try:
                Log.open(path, device="dev-001", free_floor_bytes=0)
                status, message = 0, "opened"
            except PermissionError as exc:
                status, message = 3, str(exc)
        except BaseException as exc:  # noqa: BLE001 - report anything to the parent
            status, message = 2, repr(exc)
        finally:
            os.write(w, message.encode()[:4000])
            os._exit(status)
    os.close(w)
    with os.fdopen(r) as f:
        message = f.read()
    _, raw = os.waitpid(pid, 0)
    if os.geteuid() != 0:
        path.chmod(0o600)
    return os.waitstatus_to_exitcode(raw), message


def _crashed_writer(path: Path, batches: int) -> None:
    """Appends `batches` batches of 100 and dies without closing: the WAL keeps them."""
    code = (
        "import os, sys; from components.core.log import Log\n"
        "lg = Log.open(sys.argv[1], device='dev-001', free_floor_bytes=0)\n"
        "lg._db.conn.execute('PRAGMA wal_autocheckpoint=0')\n"
        f"for b in range({batches}):\n"
        f"    lg.append_batch({S!r}, 'raw', [{{'v': b * 100 + i}} for i in range(100)])\n"
        "os._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", code, str(path)], cwd=ROOT, check=True)


def _wal_frames(wal: Path) -> int:
    return (wal.stat().st_size - 32) // (24 + 4096)


@pytest.mark.parametrize("where", ["header", "middle_frame"])
@pytest.mark.slow
def test_a_damaged_wal_is_salvaged_and_moved_aside_not_deleted(tmp_path, where):
    path = tmp_path / "log.db"
    _crashed_writer(path, batches=30)
    wal = Path(f"{path}-wal")
    frames = _wal_frames(wal)
    assert frames > 4
    if where == "header":
        _overwrite(wal, 0, os.urandom(32))
    else:
        frame = frames // 2
        _overwrite(wal, 32 + frame * (24 + 4096) + 24 + 100, os.urandom(200))
    damaged = wal.read_bytes()
    with Log.open(path, device="dev-001", free_floor_bytes=0) as lg:
        st = lg.stats()["counters"]
        assert st["salvage_events"] == 1 and st["salvage.wal_frames_replayed"] > 0
        values = sorted(r.payload["v"] for r in lg.snapshot_records(["raw"]))
        # Before: the WAL's commits vanished (nothing salvaged) and seq restarted at 1.
        # The last commits lie after the damage: they must be back.
        assert values[-100:] == list(range(2900, 3000))
        assert len(values) >= 2900
        assert lg.append(S, "raw", {"v": 3000}) > 3000
    (aside_wal,) = tmp_path.glob("log.db.corrupt-*-wal")
    assert aside_wal.read_bytes() == damaged


@pytest.mark.slow
def test_a_crash_with_a_healthy_wal_is_no_salvage(tmp_path):
    path = tmp_path / "log.db"
    _crashed_writer(path, batches=10)
    with Log.open(path, device="dev-001", free_floor_bytes=0) as lg:
        assert "salvage_events" not in lg.stats()["counters"]
        assert len(list(lg.snapshot_records(["raw"]))) == 1000
        assert lg.append(S, "raw", {"v": 1000}) == 1001


_BOOT = """
import json, sys
from components.core.log import Log
lg = Log.open(sys.argv[1], device='dev-001', free_floor_bytes=0)
held = len(list(lg.snapshot_records(['raw'])))
seqs = lg.append_batch('env/p%s@0x76' % sys.argv[2], 'raw', [{'v': i} for i in range(50)])
print(json.dumps({'held': held, 'seqs': seqs}))
lg.close()
"""


def _damage_leaves(path: Path) -> None:
    conn = sqlite3.connect(path)
    leaves = [
        r[0] - 1
        for r in conn.execute(
            "SELECT pageno FROM dbstat WHERE name='rec_raw' AND pagetype='leaf' ORDER BY pageno"
        )
    ]
    conn.close()
    mid = len(leaves) // 2
    for p in leaves[mid : mid + 2]:
        _overwrite(path, p * 4096, os.urandom(4096))


@pytest.mark.slow
def test_concurrent_boot_on_a_damaged_log_salvages_once(tmp_path):
    import json

    single = tmp_path / "single"
    single.mkdir()
    _fill(single / "log.db")
    _damage_leaves(single / "log.db")
    many = tmp_path / "many"
    shutil.copytree(single, many)
    with Log.open(single / "log.db", device="dev-001", free_floor_bytes=0) as lg:
        kept = len(list(lg.snapshot_records(["raw"])))
    assert 0 < kept < N
    for trial in range(3):
        d = tmp_path / f"trial{trial}"
        shutil.copytree(many, d)
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", _BOOT, str(d / "log.db"), str(i)],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for i in range(3)
        ]
        outs = [p.communicate(timeout=120) for p in procs]
        for p, (_out, err) in zip(procs, outs, strict=True):
            assert p.returncode == 0, err  # before: IntegrityError, disk I/O error, readonly
        results = [json.loads(out) for out, _ in outs]
        # Each saw at least everything a lone salvage keeps (plus the others' appends).
        assert all(r["held"] >= kept for r in results)
        assert len(list(d.glob("log.db.corrupt-*[0-9]"))) == 1
        with Log.open(d / "log.db", device="dev-001", free_floor_bytes=0) as lg:
            raw = list(lg.snapshot_records(["raw"]))
            assert len(raw) == kept + 150  # every append landed in the live file
            for i, r in enumerate(results):
                mine = sorted(x.seq for x in raw if x.stream == f"env/p{i}@0x76")
                assert mine == r["seqs"]


def test_a_writer_that_opened_before_the_move_writes_into_the_live_file(tmp_path):
    path = tmp_path / "log.db"
    _fill(path)
    early = Log.open(path, device="dev-001", free_floor_bytes=0)
    try:
        _damage_leaves(path)
        with Log.open(path, device="dev-001", free_floor_bytes=0) as salvager:
            assert salvager.stats()["counters"]["salvage_events"] == 1
        seq = early.append(S, "raw", {"v": "late"})
        assert seq > N
    finally:
        early.close()
    (aside,) = tmp_path.glob("log.db.corrupt-*[0-9]")
    with Log.open(path, device="dev-001", free_floor_bytes=0) as lg:
        assert [r.seq for r in lg.snapshot_records(["raw"]) if r.payload == {"v": "late"}] == [seq]
    ro = sqlite3.connect(f"file:{aside}?mode=ro", uri=True)
    try:  # nothing was committed into the moved-aside file
        assert ro.execute("SELECT count(*) FROM rec_raw WHERE body LIKE '%late%'").fetchone() == (
            0,
        )
    except sqlite3.DatabaseError:
        pass  # the damage may hide the table; then nothing was written there either
    finally:
        ro.close()


def test_a_salvage_killed_half_way_is_redone_by_the_next_opener(tmp_path):
    path = tmp_path / "log.db"
    _fill(path)
    mark = read_mark(mark_path(path))
    _damage_leaves(path)
    # What a salvager leaves when killed after the move: the journal, the file aside, and
    # its fresh log at the path with nothing salvaged into it yet.
    aside = move_aside(path, 5.0)
    sqlite3.connect(path).execute(
        "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT)"
    ).connection.close()
    with Log.open(path, device="dev-001", free_floor_bytes=0) as lg:
        held = list(lg.snapshot_records(["raw"]))
        assert len(held) > N // 2
        assert lg.append(S, "raw", {"v": N}) == mark + 1
    assert aside.exists() and list(tmp_path.glob("log.db.unfinished-*"))
    assert not list(tmp_path.glob("*.salvaging"))


def test_a_stream_new_after_a_salvage_says_which_numbers_it_never_used(tmp_path):
    path = tmp_path / "log.db"
    _fill(path)
    mark = read_mark(mark_path(path))
    _damage_leaves(path)
    with Log.open(path, device="dev-001", free_floor_bytes=0) as lg:
        seq = lg.append("env/new@1", "raw", {"v": 1})
        skips = [k for k in lg.seq_skips() if k["stream"] == "env/new@1"]
        # From sequence numbers alone: produced = 1..seq, of which 1..mark never existed.
        assert seq == mark + 1 and [(k["first_seq"], k["last_seq"]) for k in skips] == [(1, mark)]


def test_records_after_a_salvage_reach_a_consumer_that_had_acknowledged_everything(tmp_path):
    """The consumer had acknowledged (and the log retired) every record before the damage:
    new records must land above its acknowledged position, or it takes them as read."""
    path = tmp_path / "log.db"
    with Log.open(path, device="dev-001", free_floor_bytes=0) as lg:
        lg.register_consumer("uplink")
        lg.append_batch("event/x@1", "event", [{"v": i} for i in range(100)])
        lg.ack("uplink", lg.read("uplink", limit=1000))
        lg.append_batch("env/y@1", "raw", [{"v": i} for i in range(10)])  # a class kept
        lg._db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    _overwrite(path, (_page_of(path, "sqlite_autoindex_streams_1") - 1) * 4096, os.urandom(4096))
    with Log.open(path, device="dev-001", free_floor_bytes=0) as lg:
        assert lg.stats()["counters"]["salvage_events"] == 1
        seq = lg.append("event/x@1", "event", {"v": "after"})
        got = [(r.stream, r.seq) for r in lg.read("uplink", limit=1000, classes=["event"])]
        # Before: the new record took position 1, below the acknowledged 100: never sent.
        assert got == [("event/x@1", seq)]


def test_a_components_checkpointed_state_survives_a_salvage_with_its_acknowledgement(tmp_path):
    path = tmp_path / "log.db"
    with Log.open(path, device="dev-001", free_floor_bytes=0) as lg:
        lg.register_consumer("analytics", classes=["raw"])
        lg.append_batch(S, "raw", [{"v": i} for i in range(10)])
        batch = lg.read("analytics", limit=5)
        lg.append_records([], ack=("analytics", batch.cursor()), checkpoint={"an/w": "state-5"})
        lg._db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    _overwrite(path, (_page_of(path, "sqlite_autoindex_streams_1") - 1) * 4096, os.urandom(4096))
    with Log.open(path, device="dev-001", free_floor_bytes=0) as lg:
        assert lg.stats()["counters"]["salvage_events"] == 1
        # Before: the state was dropped while the acknowledgement was kept.
        assert lg.load_checkpoints("an/") == {"an/w": "state-5"}
        assert [r.payload["v"] for r in lg.read("analytics", limit=100)] == [5, 6, 7, 8, 9]
