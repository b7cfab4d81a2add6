"""Per-component configuration trees, with the nucleus's update semantics.

Every leaf carries the timestamp (epoch ms) of its last change. A merge writes a leaf only if
its timestamp is not older than the leaf's (newer wins, as in the nucleus), creates missing
keys, and never deletes. Listeners hear the key path of every leaf that changed or appeared.
Thread-safe: the IPC server, a deployment and tests may touch it from different threads.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from components.core.clock import Clock, SystemClock

# The nucleus refuses IPC updates to these top-level keys.
RESTRICTED_KEYS: Final = frozenset({"accessControl"})

KeyPath = tuple[str, ...]
Listener = Callable[[str, KeyPath], None]


class ConfigRefused(ValueError):
    """A configuration request the nucleus would refuse; `.evidence` holds the request part."""

    def __init__(self, message: str, evidence: Any = None) -> None:
        super().__init__(message)
        self.evidence = evidence


class KeyNotFound(ConfigRefused):
    pass


class StaleUpdate(ConfigRefused):
    """Some leaf had a newer timestamp than the update (IPC: FailedUpdateConditionCheckError)."""


@dataclass
class _Node:
    children: dict[str, _Node] | None = None  # None for a leaf
    value: Any = None
    modtime_ms: int = 0

    @property
    def is_leaf(self) -> bool:
        return self.children is None

    def to_plain(self) -> Any:
        if self.children is None:
            return copy.deepcopy(self.value)
        return {k: child.to_plain() for k, child in self.children.items()}


def _build(value: Any, modtime_ms: int) -> _Node:
    if isinstance(value, Mapping):
        return _Node({str(k): _build(v, modtime_ms) for k, v in value.items()}, None, modtime_ms)
    return _Node(None, copy.deepcopy(value), modtime_ms)


@dataclass
class _Subscription:
    component: str
    key_path: KeyPath
    listener: Listener
    active: bool = field(default=True)


class ConfigStore:
    def __init__(self, clock: Clock | None = None) -> None:
        self._clock = clock or SystemClock()
        self._roots: dict[str, _Node] = {}
        self._subs: list[_Subscription] = []
        self._lock = threading.RLock()
        self.stats = {"updates": 0, "stale_leaves": 0, "events": 0}

    # -- deployment side --
    def set_component(self, component: str, configuration: Mapping[str, Any] | None) -> None:
        """Install a component's configuration (recipe defaults merged with a deployment)."""
        with self._lock:
            if component in self._roots:
                self.merge(component, (), dict(configuration or {}), self._clock.wall_ms())
            else:
                self._roots[component] = _build(dict(configuration or {}), self._clock.wall_ms())

    def components(self) -> list[str]:
        with self._lock:
            return sorted(self._roots)

    # -- reads --
    def _find(self, component: str, key_path: Sequence[str]) -> _Node:
        node = self._roots.get(component)
        if node is None:
            raise KeyNotFound("Key not found", {"component": component})
        for key in key_path:
            if node.children is None or key not in node.children:
                raise KeyNotFound("Key not found", {"component": component, "keyPath": key_path})
            node = node.children[key]
        return node

    def get(self, component: str, key_path: Sequence[str] = ()) -> Any:
        """A container as a dict; a leaf as `{leafName: value}` (the nucleus's answer)."""
        with self._lock:
            node = self._find(component, key_path)
            if node.is_leaf:
                return {key_path[-1]: node.to_plain()}
            return node.to_plain()

    def get_plain(self, component: str, key_path: Sequence[str] = ()) -> Any:
        """The value itself (a leaf's value, not wrapped)."""
        with self._lock:
            return self._find(component, key_path).to_plain()

    # -- writes --
    def update_from_ipc(
        self, component: str, key_path: Sequence[str], value_to_merge: Any, timestamp_ms: int
    ) -> None:
        """UpdateConfiguration as the nucleus does it (validation included)."""
        if not isinstance(value_to_merge, Mapping):
            raise ConfigRefused("valueToMerge must be a map", value_to_merge)
        path = tuple(key_path or ())
        if (path and path[0] in RESTRICTED_KEYS) or (
            not path and RESTRICTED_KEYS & set(value_to_merge)
        ):
            raise ConfigRefused(
                f"Config update is not allowed for following fields {sorted(RESTRICTED_KEYS)}",
                path,
            )
        with self._lock:
            if component not in self._roots:
                raise ConfigRefused(f"Component config not found for component {component}")
            try:
                node = self._find(component, path)
            except KeyNotFound:
                node = None
            if node is not None and node.is_leaf:
                # keyPath names a leaf: merge {leaf: value} into its parent.
                self.merge(component, path[:-1], {path[-1]: value_to_merge}, timestamp_ms)
            else:
                self.merge(component, path, value_to_merge, timestamp_ms)

    def merge(
        self, component: str, key_path: Sequence[str], value: Mapping[str, Any], timestamp_ms: int
    ) -> list[KeyPath]:
        """Merge a map at key_path (created if missing). Returns the changed leaf paths.
        Raises StaleUpdate after applying what it could if some leaf was newer."""
        with self._lock:
            root = self._roots.setdefault(component, _Node({}, None, timestamp_ms))
            node = root
            for key in key_path:
                assert node.children is not None
                child = node.children.get(key)
                if child is None or child.is_leaf:
                    if child is not None and child.modtime_ms > timestamp_ms:
                        self.stats["stale_leaves"] += 1
                        raise StaleUpdate(
                            "Proposed timestamp is older than the config's latest modified "
                            "timestamp",
                            tuple(key_path),
                        )
                    child = _Node({}, None, timestamp_ms)
                    node.children[key] = child
                node = child
            changed: list[KeyPath] = []
            stale: list[KeyPath] = []
            self._merge_into(node, tuple(key_path), value, timestamp_ms, changed, stale)
            self.stats["updates"] += 1
            events = [(s, p) for p in changed for s in self._subs if self._covers(s, component, p)]
        for sub, path in events:
            if sub.active:
                self.stats["events"] += 1
                sub.listener(component, path)
        if stale:
            self.stats["stale_leaves"] += len(stale)
            raise StaleUpdate(
                "Proposed timestamp is older than the config's latest modified timestamp", stale
            )
        return changed

    def _merge_into(
        self,
        node: _Node,
        path: KeyPath,
        value: Mapping[str, Any],
        ts: int,
        changed: list[KeyPath],
        stale: list[KeyPath],
    ) -> None:
        assert node.children is not None
        for raw_key, new in value.items():
            key = str(raw_key)
            child = node.children.get(key)
            child_path = path + (key,)
            if isinstance(new, Mapping):
                if child is None or child.is_leaf:
                    if child is not None and child.modtime_ms > ts:
                        stale.append(child_path)
                        continue
                    child = _Node({}, None, ts)
                    node.children[key] = child
                self._merge_into(child, child_path, new, ts, changed, stale)
                continue
            if child is not None and child.modtime_ms > ts:
                stale.append(child_path)
                continue
            if child is None or not child.is_leaf or child.value != new:
                node.children[key] = _Node(None, copy.deepcopy(new), ts)
                changed.append(child_path)
            else:
                child.modtime_ms = ts

    # -- subscriptions --
    @staticmethod
    def _covers(sub: _Subscription, component: str, path: KeyPath) -> bool:
        return sub.component == component and path[: len(sub.key_path)] == sub.key_path

    def subscribe(
        self, component: str, key_path: Sequence[str], listener: Listener
    ) -> Callable[[], None]:
        """Call `listener(component, changed_key_path)` for changes at or under key_path.
        The key must exist. Returns the function that ends the subscription."""
        with self._lock:
            self._find(component, key_path)
            sub = _Subscription(component, tuple(key_path), listener)
            self._subs.append(sub)

        def cancel() -> None:
            with self._lock:
                sub.active = False
                if sub in self._subs:
                    self._subs.remove(sub)

        return cancel

    @property
    def subscription_count(self) -> int:
        with self._lock:
            return len(self._subs)
