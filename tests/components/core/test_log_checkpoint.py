"""A consumer's outputs, acknowledgement and checkpoint commit in one transaction; reading
ahead of the acknowledged offset."""

import pytest

from components.core.clock import ManualClock
from components.core.log import BudgetExceeded, Log, NewRecord

S, OUT = "env/bme280@0x76", "agg_env/bme280@0x76"


@pytest.fixture
def lg(tmp_path):
    with Log.open(
        tmp_path / "log.db", device="dev-001", free_floor_bytes=0, clock=ManualClock()
    ) as log:
        yield log


def test_outputs_ack_and_checkpoint_commit_together(lg):
    lg.append_batch(S, "raw", [{"v": i} for i in range(10)])
    lg.register_consumer("a", classes=("raw",))
    lg.register_consumer("check", classes=("aggregate",))
    batch = lg.read("a", limit=4)
    lg.append_records(
        [NewRecord(OUT, "aggregate", {"n": 4})],
        ack=("a", batch.cursor()),
        checkpoint={"a/x": "one", "a/y": "two", "b/z": "other"},
    )
    assert lg.consumers()["a"]["raw"] == batch.cursor()["raw"]
    assert lg.load_checkpoints("a/") == {"a/x": "one", "a/y": "two"}
    assert [r.payload for r in lg.read("check")] == [{"n": 4}]
    # state only, no outputs: still one transaction
    lg.append_records([], checkpoint={"a/x": "three"})
    assert lg.load_checkpoints("a/")["a/x"] == "three"


def test_nothing_is_kept_when_the_append_is_refused(lg, monkeypatch):
    lg.append_batch(S, "raw", [{"v": i} for i in range(5)])
    lg.register_consumer("a", classes=("raw",))
    batch = lg.read("a")

    def full(incoming, cls, may_evict_own):
        raise BudgetExceeded("full", cls=cls, used_bytes=1, budget_bytes=1)

    monkeypatch.setattr(lg._budget, "make_room", full)
    with pytest.raises(BudgetExceeded):
        lg.append_records(
            [NewRecord(OUT, "aggregate", {"n": 5})],
            ack=("a", batch.cursor()),
            checkpoint={"a/x": "state"},
        )
    assert lg.consumers()["a"]["raw"] == 0 and lg.load_checkpoints("a/") == {}


def test_read_after_reads_ahead_of_the_acknowledged_offset(lg):
    lg.append_batch(S, "raw", [{"v": i} for i in range(10)])
    lg.register_consumer("a", classes=("raw",))
    first = lg.read("a", limit=3)
    second = lg.read("a", limit=3, after=first.cursor())
    assert [r.payload["v"] for r in second] == [3, 4, 5]
    assert [r.payload["v"] for r in lg.read("a", limit=3)] == [0, 1, 2]  # nothing acked yet
    lg.ack("a", second)
    assert [r.payload["v"] for r in lg.read("a", limit=2, after=first.cursor())] == [6, 7]


def test_no_checkpoint_table_until_first_used(lg):
    assert lg.load_checkpoints("") == {}
    tables = {r[0] for r in lg._db.conn.execute("SELECT name FROM sqlite_master")}
    assert "checkpoints" not in tables
