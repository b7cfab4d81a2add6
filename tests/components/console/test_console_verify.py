import hashlib
import json
import sqlite3

from console_world import BME
from hypothesis import given, settings
from hypothesis import strategies as st

from components.console import verify
from components.console.__main__ import main
from components.console.levels import Level


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _held_bme_seqs(path):
    conn = sqlite3.connect(path)
    try:
        return [
            r[0]
            for r in conn.execute(
                "SELECT r.seq FROM rec_raw r JOIN streams s ON s.id = r.sid WHERE s.stream=? "
                "ORDER BY r.seq",
                (BME,),
            )
        ]
    finally:
        conn.close()


def _delete_bme(path, seqs):
    conn = sqlite3.connect(path)
    try:
        conn.executemany(
            "DELETE FROM rec_raw WHERE seq=? AND sid=(SELECT id FROM streams WHERE stream=?)",
            [(s, BME) for s in seqs],
        )
        conn.commit()
    finally:
        conn.close()


def test_a_real_log_accounts_for_every_sequence_number(site):
    before = _sha(site.path)
    report = verify.run(site.path)
    assert report.level is Level.OK, report.to_dict()
    assert report.integrity == ["ok"]
    assert _sha(site.path) == before  # read-only: the file is untouched
    lg = site.open()
    try:
        produced = {s["stream"]: s for s in lg.streams()}
        counters = lg.stats()["counters"]
    finally:
        lg.close()
    for v in report.streams:
        assert v.produced == produced[v.stream]["produced"]
        assert v.evicted == produced[v.stream]["evicted"]
        assert v.held + v.evicted + v.retired == v.produced
    raw = next(c for c in report.classes if c["cls"] == "raw")
    assert raw["retired_accounted"] == counters["retired.raw"] == 1800


def test_an_injected_gap_is_found_with_its_exact_range(site, captured):
    held = _held_bme_seqs(site.path)
    middle = held[len(held) // 2]
    _delete_bme(site.path, range(middle, middle + 7))
    report = verify.run(site.path)
    bme = next(v for v in report.streams if v.stream == BME)
    assert bme.gaps == [(middle, middle + 6)]
    assert bme.level is Level.FAIL and report.level is Level.FAIL
    rc = main(
        ["buffer", "verify", "--json", "--config", str(site.config_file)],
        clock=site.clock,
        console=captured.console,
    )
    assert rc == 2
    data = json.loads(captured.text)
    assert any(f"{middle}-{middle + 6}" in p for s in data["streams"] for p in s["problems"])


def test_losing_the_oldest_held_records_is_caught_by_the_retired_counter(site):
    # Looks like retirement from the sequence numbers alone; the counter says otherwise.
    held = _held_bme_seqs(site.path)
    _delete_bme(site.path, held[:5])
    report = verify.run(site.path)
    raw = next(c for c in report.classes if c["cls"] == "raw")
    assert raw["level"] == "FAIL" and raw["retired_accounted"] == raw["retired_counter"] + 5
    assert report.level is Level.FAIL


def test_losing_the_newest_record_is_a_gap(site):
    held = _held_bme_seqs(site.path)
    _delete_bme(site.path, [held[-1]])
    bme = next(v for v in verify.run(site.path).streams if v.stream == BME)
    assert bme.gaps == [(held[-1], held[-1])]


def test_a_damaged_file_fails_the_integrity_check(site, tmp_path):
    lg = site.open()
    lg.close()
    data = bytearray(site.path.read_bytes())
    page = 4096
    for i in range(3 * page, min(len(data), 12 * page)):  # scribble over a few b-tree pages
        data[i] = 0x5A
    damaged = tmp_path / "damaged.db"
    damaged.write_bytes(bytes(data))
    report = verify.run(damaged)
    assert report.level is Level.FAIL and report.integrity != ["ok"]


# --------------------------------------------------------------------------- pure check
@st.composite
def stream_history(draw):
    """A stream's life: `retired` then `evicted` prefix, records held, some silently lost."""
    produced = draw(st.integers(0, 300))
    retired = draw(st.integers(0, produced))
    evicted = draw(st.integers(0, produced - retired))
    held = list(range(retired + evicted + 1, produced + 1))
    lost = sorted(draw(st.sets(st.sampled_from(held), max_size=20))) if held else []
    return produced, retired, evicted, [s for s in held if s not in set(lost)], lost


def _facts(produced, evicted_ranges, held):
    gaps = []
    for a, b in zip(held, held[1:], strict=False):
        if b > a + 1:
            gaps.append((a + 1, b - 1))
    return verify.StreamFacts(
        "d",
        "env/x@1",
        "raw",
        produced,
        len(held),
        len(held),
        held[0] if held else None,
        held[-1] if held else None,
        tuple(gaps),
        tuple((lo, hi, hi - lo + 1, "budget") for lo, hi in evicted_ranges),
    )


@settings(max_examples=300, deadline=None)
@given(stream_history())
def test_gaps_are_exactly_the_records_lost(history):
    produced, retired, evicted, held, lost = history
    ranges = [(retired + 1, retired + evicted)] if evicted else []
    v = verify.check_stream(_facts(produced, ranges, held))
    found = {s for lo, hi in v.gaps for s in range(lo, hi + 1)}
    if held:
        # records lost above the oldest held one are gaps; below it they pass as retired
        assert found == {s for s in lost if s > held[0]}
        assert v.retired == retired + sum(1 for s in lost if s < held[0])
    else:
        assert found == set() and v.retired == produced - evicted
    assert v.held + v.evicted + v.retired + len(found) == produced


def test_overlapping_eviction_records_and_double_accounting_are_flagged():
    v = verify.check_stream(_facts(10, [(1, 4), (3, 6)], list(range(7, 11))))
    assert any("count" in p for p in v.problems)
    v = verify.check_stream(_facts(10, [(1, 8)], list(range(7, 11))))
    assert any("both held and recorded as evicted" in p for p in v.problems)
