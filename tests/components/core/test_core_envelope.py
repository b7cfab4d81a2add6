import pytest
from hypothesis import given
from hypothesis import strategies as st

from components.core.envelope import (
    EnvelopeError,
    Record,
    UnknownSchemaVersion,
    from_dict,
    validate_device,
    validate_stream,
)


def _rec(**kw) -> dict:
    base = Record(
        "dev-001", "env/bme280@0x76", 7, "raw", 10, 1_767_225_600_000, True, {"temperature_c": 21.5}
    ).to_dict()
    base.update(kw)
    return base


def test_round_trip_and_identity():
    r = from_dict(_rec())
    assert r.identity == ("dev-001", "env/bme280@0x76", 7)
    assert from_dict(r.to_dict()) == r


def test_unknown_version_is_its_own_error_carrying_the_record():
    with pytest.raises(UnknownSchemaVersion) as err:
        from_dict(_rec(schema=99))
    assert err.value.evidence["seq"] == 7


@pytest.mark.parametrize(
    "change",
    [
        {"seq": 0},
        {"seq": "x"},
        {"device": "dev 001"},
        {"stream": "nokind"},
        {"cls": "blob"},
        {"payload": [1, 2]},
        {"clock_synced": "true"},
        {"wall_corrected_ms": "soon"},
    ],
)
def test_bad_fields_are_rejected_with_evidence(change):
    with pytest.raises(EnvelopeError) as err:
        from_dict(_rec(**change))
    assert err.value.evidence is not None


@given(
    st.dictionaries(
        st.text(max_size=12),
        st.one_of(st.none(), st.integers(), st.text(), st.booleans(), st.floats()),
    )
)
def test_arbitrary_objects_never_raise_anything_but_envelope_error(data):
    try:
        from_dict(data)
    except EnvelopeError:
        pass


def test_names_are_matched_whole_a_trailing_newline_is_refused():
    for bad in ("dev-001\n", "dev-001\n\n"):
        with pytest.raises(EnvelopeError):
            validate_device(bad)
    with pytest.raises(EnvelopeError):
        validate_stream("env/bme280@0x76\n")
