"""The local shadow store: AWS document shape, delta, versions, deletes."""

from __future__ import annotations

import json

import pytest

from components.core.clock import ManualClock
from edge_sim.nucleus.shadow import (
    ShadowConflict,
    ShadowInvalid,
    ShadowNotFound,
    ShadowStore,
    delta,
)

T0_MS = 1_780_000_000_000


def update(store: ShadowStore, body: object, shadow: str | None = None) -> dict:
    return store.update("dev-1", shadow, json.dumps(body).encode())


def test_document_shape_and_delta() -> None:
    clock = ManualClock(wall_ms=T0_MS)
    store = ShadowStore(clock)
    accepted = update(
        store,
        {"state": {"desired": {"led": "on", "cfg": {"a": 1, "b": 2}}}, "clientToken": "tok-1"},
    )
    assert accepted["version"] == 1 and accepted["clientToken"] == "tok-1"
    assert accepted["metadata"]["desired"]["cfg"]["a"] == {"timestamp": T0_MS // 1000}
    clock.advance(10)
    update(store, {"state": {"reported": {"led": "off", "cfg": {"a": 1, "b": 3}}}})
    doc = store.get("dev-1")
    assert doc["version"] == 2
    assert doc["state"]["delta"] == {"led": "on", "cfg": {"b": 2}}
    assert doc["metadata"]["reported"]["led"] == {"timestamp": T0_MS // 1000 + 10}
    assert doc["metadata"]["desired"]["led"] == {"timestamp": T0_MS // 1000}


def test_null_deletes_keys_and_sections() -> None:
    store = ShadowStore(ManualClock(wall_ms=T0_MS))
    update(store, {"state": {"desired": {"a": 1, "b": 2}, "reported": {"a": 1}}})
    update(store, {"state": {"desired": {"b": None}}})
    doc = store.get("dev-1")
    assert doc["state"]["desired"] == {"a": 1}
    assert "b" not in doc["metadata"]["desired"]
    update(store, {"state": {"desired": None}})
    doc = store.get("dev-1")
    assert "desired" not in doc["state"] and "delta" not in doc["state"]


def test_version_conflict_named_shadows_and_delete() -> None:
    store = ShadowStore(ManualClock(wall_ms=T0_MS))
    update(store, {"state": {"reported": {"x": 1}}})
    with pytest.raises(ShadowConflict):
        update(store, {"state": {"reported": {"x": 2}}, "version": 5})
    update(store, {"state": {"reported": {"x": 2}}, "version": 1})
    update(store, {"state": {"reported": {"on": True}}}, shadow="leds")
    assert store.names("dev-1") == ["leds"]
    assert store.delete("dev-1")["version"] == 2
    with pytest.raises(ShadowNotFound):
        store.get("dev-1")
    with pytest.raises(ShadowNotFound):
        store.delete("dev-1")
    # The version continues after a delete, as in AWS IoT.
    assert update(store, {"state": {"reported": {"x": 3}}})["version"] == 3
    assert store.get("dev-1", "leds")["version"] == 1


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b"[]",
        b'{"nostate": 1}',
        b'{"state": {"desired": 5}}',
        b'{"state": {"delta": {}}}',
        b'{"state": {"other": {}}}',
        b'{"state": {"reported": {"big": "' + b"x" * 9000 + b'"}}}',
    ],
)
def test_invalid_updates(payload: bytes) -> None:
    with pytest.raises(ShadowInvalid):
        ShadowStore().update("dev-1", None, payload)


def test_invalid_names() -> None:
    with pytest.raises(ShadowInvalid):
        ShadowStore().get("bad thing name!")
    with pytest.raises(ShadowInvalid):
        ShadowStore().get("dev-1", "bad/name")


def test_delta_compares_arrays_whole() -> None:
    assert delta({"a": [1, 2]}, {"a": [1, 2]}) == {}
    assert delta({"a": [1, 2]}, {"a": [2, 1]}) == {"a": [1, 2]}
    assert delta({"a": {"b": 1}}, {"a": 5}) == {"a": {"b": 1}}
