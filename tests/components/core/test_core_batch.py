import json
import random
import zlib
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from components.core import batch
from components.core.batch import BatchError
from components.core.envelope import EnvelopeError, Record

W0 = 1_767_225_600_000


def _readings(n, stream="env/bme280@0x76", start=1, synced=True, seed=1):
    rng = random.Random(seed)
    return [
        Record(
            "dev-001",
            stream,
            start + i,
            "raw",
            10**9 * i,
            W0 + 1000 * i,
            synced,
            {
                "temperature_c": round(21 + rng.gauss(0, 0.05), 2),
                "pressure_pa": round(101325 + rng.gauss(0, 3), 1),
            },
        )
        for i in range(n)
    ]


def _same(a: Record, b: Record) -> bool:
    """Equal but for mono_ns, which travels only for records written before the clock synced."""
    return replace(a, mono_ns=0) == replace(b, mono_ns=0)


def test_round_trip_keeps_identity_values_and_types():
    recs = _readings(500) + [
        Record(
            "dev-001",
            "rfid/rdm6300@ttyS0",
            3,
            "event",
            0,
            W0,
            True,
            {"tag": "0x67003B51C6", "kind": "arrive", "rssi": None},
        ),
        Record(
            "dev-001",
            "rfid/rdm6300@ttyS0",
            9,
            "event",
            0,
            W0 + 5,
            True,
            {"tag": "X", "kind": "depart", "rssi": -61},
        ),
    ]
    site, out = batch.decode(batch.encode(recs, site="plant-7"))
    assert site == "plant-7" and len(out) == len(recs)
    assert all(_same(a, b) for a, b in zip(recs, out, strict=False))
    assert type(out[0].payload["temperature_c"]) is float
    assert [r.seq for r in out[-2:]] == [3, 9]


def test_unsynced_records_carry_monotonic_time_and_correction():
    recs = [
        Record(
            "dev-001",
            "env/a@1",
            i + 1,
            "raw",
            5_000_000 * i,
            1000 + i,
            False,
            {"v": i},
            wall_corrected_ms=W0 + i,
        )
        for i in range(3)
    ]
    _, out = batch.decode(batch.encode(recs, site="s"))
    assert out == recs


def test_gaps_from_eviction_are_preserved():
    recs = _readings(10)
    recs = recs[:3] + recs[7:]
    _, out = batch.decode(batch.encode(recs, site="s"))
    assert [r.seq for r in out] == [1, 2, 3, 8, 9, 10]


def test_sensor_readings_compress_to_a_few_bytes_each():
    recs = _readings(1000)
    per_value = len(batch.encode(recs, site="s")) / (2 * len(recs))
    assert per_value < 4, per_value


def test_pack_respects_the_size_limit_and_keeps_order():
    recs = _readings(5000)
    parts = batch.pack(recs, site="s", max_bytes=4096)
    assert all(len(p) <= 4096 for p, _ in parts) and len(parts) > 1
    out = [r for p, _ in parts for r in batch.decode(p)[1]]
    assert [r.seq for r in out] == [r.seq for r in recs]
    assert sum(n for _, n in parts) == len(recs)


def test_one_device_per_batch():
    a = _readings(1)
    b = [Record("dev-002", "env/a@1", 1, "raw", 0, W0, True, {"v": 1})]
    with pytest.raises(BatchError):
        batch.encode(a + b, site="s")


def test_compressed_bomb_is_refused():
    body = b"[" + b"0," * (batch.MAX_DECODED_BYTES // 2 + 10) + b"0]"
    data = batch.MAGIC + bytes((1, 1)) + zlib.compress(body, 9)
    with pytest.raises(BatchError, match="inflates"):
        batch.decode(data)


def test_unknown_envelope_version_is_reported_as_such():
    body = json.dumps({"sv": 42, "d": "dev", "site": "s", "g": []}).encode()
    with pytest.raises(EnvelopeError):
        batch.decode(batch.MAGIC + bytes((1, 0)) + body)


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_raise_anything_but_batch_or_envelope_errors(data):
    for candidate in (data, batch.MAGIC + b"\x01\x00" + data, batch.MAGIC + b"\x01\x01" + data):
        try:
            batch.decode(candidate)
        except (BatchError, EnvelopeError):
            pass


@settings(max_examples=200)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=5),
        lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=3), c, max_size=4),
        max_leaves=20,
    )
)
def test_arbitrary_json_bodies_never_raise_anything_but_batch_or_envelope_errors(doc):
    try:
        batch.decode(batch.MAGIC + b"\x01\x00" + json.dumps(doc).encode())
    except (BatchError, EnvelopeError):
        pass


@settings(max_examples=200)
@given(
    st.lists(st.floats(allow_nan=False, allow_infinity=False, width=64), min_size=1, max_size=30)
)
def test_any_finite_floats_round_trip_exactly(values):
    recs = [
        Record("d", "env/a@1", i + 1, "raw", 0, W0, True, {"v": v}) for i, v in enumerate(values)
    ]
    _, out = batch.decode(batch.encode(recs, site="s"))
    assert [r.payload["v"] for r in out] == values


# ---- the column-wise decoder against a per-record oracle --------------------------------------
def _oracle_decode(data: bytes):
    """Independent reference: every record rebuilt as an envelope dict and validated by
    `envelope.from_dict`, one at a time (how a batch decoded before it went column-wise)."""
    from itertools import accumulate

    from components.core.envelope import from_dict

    doc = json.loads(data[batch.HEADER_BYTES :])
    out = []
    for g in doc["g"]:
        n, q = g["n"], g["q"]
        seqs = list(accumulate([q, *g["dq"]])) if "dq" in g else list(range(q, q + n))
        monos = list(accumulate(g["m"])) if "m" in g else [0] * n
        synced = [g["y"]] * n if isinstance(g["y"], bool) else g["y"]
        cols = [
            [v / 10 ** c["e"] for v in accumulate(c["i"])] if "e" in c
            else c["j"] if "j" in c else list(accumulate(c["i"]))
            for c in g["v"]
        ]  # fmt: skip
        for i in range(n):
            out.append(from_dict({
                "schema": doc["sv"], "device": doc["d"], "stream": g["s"], "cls": g["c"],
                "seq": seqs[i], "mono_ns": monos[i], "wall_ms": list(accumulate(g["w"]))[i],
                "clock_synced": synced[i], "wall_corrected_ms": g.get("x", [None] * n)[i],
                "payload": {k: col[i] for k, col in zip(g["k"], cols, strict=True)}}))  # fmt: skip
    return doc["site"], out


_ODD = st.sampled_from([0, -1, 2, True, False, None, "x", "alert", "env/x@1", "bad stream", 1.5,
                        [1], {}, "dev 1", "d" * 129])  # fmt: skip


@st.composite
def _batch_doc(draw):
    streams = draw(st.lists(st.sampled_from(["env/a@1", "rfid/b", "sys/health"]), min_size=1,
                            max_size=3))  # fmt: skip
    records, seq = [], 1
    for stream in streams:
        for _ in range(draw(st.integers(1, 4))):
            seq += draw(st.integers(1, 3))
            synced = draw(st.booleans())
            corrected = None if synced else draw(st.none() | st.integers(W0, W0 + 10**6))
            records.append(Record(
                "dev-1", stream, seq, draw(st.sampled_from(["raw", "event", "alert"])),
                draw(st.integers(0, 10**12)), draw(st.integers(0, W0)), synced,
                {"v": draw(st.integers(-5, 5) | st.floats(-1e3, 1e3)),
                 "t": draw(st.text(max_size=3))},
                wall_corrected_ms=corrected))  # fmt: skip
    doc = json.loads(batch.encode(records, site="s", codec=batch.CODEC_NONE)[batch.HEADER_BYTES :])
    if draw(st.booleans()):  # one field of one group made odd, or the device
        group = draw(st.sampled_from(doc["g"]))
        where = draw(st.sampled_from(["s", "c", "d", "y", "x", "q", "dq", "m"]))
        # Wire-level integers take only integers: the oracle does not check their JSON types.
        odd = draw(st.integers(-2, 3) if where in ("q", "dq", "m") else _ODD)
        if where == "d":
            doc["d"] = odd
        elif isinstance(group.get(where), list) and group[where]:
            group[where][draw(st.integers(0, len(group[where]) - 1))] = odd
        elif where not in ("dq", "m"):
            group[where] = odd
    return doc


@settings(max_examples=300)
@given(_batch_doc())
def test_column_decoder_agrees_with_the_per_record_oracle(doc):
    data = batch.MAGIC + bytes((batch.VERSION, batch.CODEC_NONE)) + json.dumps(doc).encode()
    try:
        expected = _oracle_decode(data)
    except (EnvelopeError, KeyError, TypeError, ValueError, IndexError):
        expected = None  # the oracle refuses (or cannot even walk) what decode must refuse
    if expected is None:
        with pytest.raises((BatchError, EnvelopeError)):
            batch.decode(data)
    else:
        assert batch.decode(data) == expected
