import json
import random
import string

from components.core import batch
from components.core.envelope import Record
from components.uplink.plan import plan

W0 = 1_767_225_600_000
NOISE = "".join(random.Random(1).choices(string.ascii_letters, k=20_000))


def _r(cls, seq, device="dev-001", stream=None, **payload):
    stream = (
        stream
        or {
            "alert": "alert/t@1",
            "aggregate": "agg/t@1",
            "event": "event/t@1",
            "raw": "env/t@1",
            "health": "health/t@1",
        }[cls]
    )
    return Record(device, stream, seq, cls, 0, W0 + seq, True, payload or {"v": seq})


def test_alerts_go_alone_as_json_and_batches_keep_log_order_and_ack_positions():
    recs = [
        _r("alert", 1, severity="critical"),
        _r("alert", 2),
        _r("event", 1),
        _r("event", 2),
        _r("aggregate", 1),
    ]
    pos = [10, 11, 5, 6, 3]
    msgs = plan(recs, pos, site="s1", thing="dev-001", max_bytes=64 * 1024)
    assert [m.topic for m in msgs] == [
        "floorline/s1/dev-001/alert",
        "floorline/s1/dev-001/alert",
        "floorline/s1/dev-001/event",
        "floorline/s1/dev-001/agg",
    ]
    assert json.loads(msgs[0].payload)["payload"] == {"severity": "critical"}
    assert [(m.cls, m.ack_pos, m.records) for m in msgs] == [
        ("alert", 10, 1),
        ("alert", 11, 1),
        ("event", 6, 2),
        ("aggregate", 3, 1),
    ]
    _, decoded = batch.decode(msgs[2].payload)
    assert [r.seq for r in decoded] == [1, 2]


def test_lan_devices_get_their_own_batches_under_the_gateway_topic():
    recs = [
        _r("event", 1, device="pos-1"),
        _r("event", 1, device="pos-2"),
        _r("event", 2, device="pos-2"),
    ]
    msgs = plan(recs, [1, 2, 3], site="s", thing="gw-1", max_bytes=64 * 1024)
    assert [batch.decode(m.payload)[1][0].device for m in msgs] == ["pos-1", "pos-2"]
    assert all(m.topic == "floorline/s/gw-1/event" for m in msgs)
    assert [m.ack_pos for m in msgs] == [1, 3]


def test_large_backlog_splits_under_the_limit_and_acks_everything_once():
    recs = [_r("aggregate", i + 1, mean=i * 0.37, p95=i * 1.1) for i in range(20_000)]
    pos = list(range(1, 20_001))
    msgs = plan(recs, pos, site="s", thing="d", max_bytes=8 * 1024)
    assert all(len(m.payload) <= 8 * 1024 for m in msgs) and len(msgs) > 1
    assert sum(m.records for m in msgs) == 20_000 and msgs[-1].ack_pos == 20_000
    seqs = [r.seq for m in msgs for r in batch.decode(m.payload)[1]]
    assert seqs == list(range(1, 20_001))


def test_a_record_too_large_for_any_message_is_handed_back_not_stuck():
    recs = [_r("event", 1), _r("event", 2, blob=NOISE), _r("event", 3)]
    msgs = plan(recs, [1, 2, 3], site="s", thing="d", max_bytes=5 * 1024)
    assert [(m.oversize is not None, m.ack_pos) for m in msgs] == [
        (False, 1),
        (True, 2),
        (False, 3),
    ]
