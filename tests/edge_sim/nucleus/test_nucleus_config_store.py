"""The configuration tree: reads, timestamped merges, events."""

from __future__ import annotations

import pytest

from components.core.clock import ManualClock
from edge_sim.nucleus.config_store import ConfigRefused, ConfigStore, KeyNotFound, StaleUpdate

T0 = 1_780_000_000_000


@pytest.fixture
def store() -> ConfigStore:
    s = ConfigStore(ManualClock(wall_ms=T0))
    s.set_component("c", {"a": 1, "m": {"x": 1, "y": {"z": "deep"}}, "accessControl": {}})
    return s


def test_reads(store: ConfigStore) -> None:
    assert store.get("c", ["a"]) == {"a": 1}
    assert store.get("c", ["m", "y", "z"]) == {"z": "deep"}
    assert store.get("c", ["m"]) == {"x": 1, "y": {"z": "deep"}}
    assert store.get_plain("c", ["m", "y", "z"]) == "deep"
    with pytest.raises(KeyNotFound):
        store.get("c", ["m", "nope"])
    with pytest.raises(KeyNotFound):
        store.get("c", ["a", "below-a-leaf"])
    with pytest.raises(KeyNotFound):
        store.get("missing")


def test_returned_values_are_copies(store: ConfigStore) -> None:
    store.get("c", ["m"])["x"] = 99
    assert store.get("c", ["m", "x"]) == {"x": 1}


def test_merge_creates_keeps_and_reports_changed_leaves(store: ConfigStore) -> None:
    events: list[tuple[str, tuple[str, ...]]] = []
    store.subscribe("c", ["m"], lambda comp, path: events.append((comp, path)))
    changed = store.merge("c", ["m"], {"x": 1, "y": {"w": 2}, "n": [1, 2]}, T0 + 1)
    assert sorted(changed) == [("m", "n"), ("m", "y", "w")]  # x kept its value: no event
    assert sorted(events) == [("c", ("m", "n")), ("c", ("m", "y", "w"))]
    assert store.get("c", ["m"]) == {"x": 1, "y": {"z": "deep", "w": 2}, "n": [1, 2]}


def test_newer_leaf_wins_and_stale_update_is_reported(store: ConfigStore) -> None:
    store.merge("c", [], {"a": 2}, T0 + 100)
    with pytest.raises(StaleUpdate):
        store.merge("c", [], {"a": 3, "b": "new"}, T0 + 50)
    # The stale leaf kept its newer value; the rest of the update applied.
    assert store.get("c", ["a"]) == {"a": 2}
    assert store.get("c", ["b"]) == {"b": "new"}
    # Equal timestamps overwrite.
    store.merge("c", [], {"a": 4}, T0 + 100)
    assert store.get("c", ["a"]) == {"a": 4}


def test_ipc_update_rules(store: ConfigStore) -> None:
    with pytest.raises(ConfigRefused, match="accessControl"):
        store.update_from_ipc("c", ["accessControl"], {"x": 1}, T0 + 1)
    with pytest.raises(ConfigRefused, match="accessControl"):
        store.update_from_ipc("c", [], {"accessControl": {}}, T0 + 1)
    with pytest.raises(ConfigRefused, match="map"):
        store.update_from_ipc("c", ["m"], 5, T0 + 1)
    with pytest.raises(ConfigRefused, match="not found"):
        store.update_from_ipc("ghost", ["m"], {"x": 1}, T0 + 1)
    store.update_from_ipc("c", ["new", "branch"], {"k": True}, T0 + 1)
    assert store.get("c", ["new"]) == {"branch": {"k": True}}


def test_subscription_scope_and_cancel(store: ConfigStore) -> None:
    events: list[tuple[str, ...]] = []
    cancel = store.subscribe("c", ["m", "y"], lambda _c, p: events.append(p))
    store.merge("c", [], {"a": 10}, T0 + 1)
    store.merge("c", ["m", "y"], {"z": "changed"}, T0 + 1)
    assert events == [("m", "y", "z")]
    cancel()
    store.merge("c", ["m", "y"], {"z": "again"}, T0 + 2)
    assert events == [("m", "y", "z")]
    assert store.subscription_count == 0
    with pytest.raises(KeyNotFound):
        store.subscribe("c", ["nope"], lambda _c, _p: None)


def test_redeploy_merges_over_existing(store: ConfigStore) -> None:
    store.set_component("c", {"a": 5})
    assert store.get("c", ["a"]) == {"a": 5}
    assert store.get("c", ["m", "x"]) == {"x": 1}
