"""A local device-shadow store with the AWS document shape (what ShadowManager keeps on a device).

Documents: {"state": {"desired", "reported", "delta"}, "metadata": {"desired", "reported"},
"version", "timestamp"}. An update merges `state.desired` / `state.reported` (null deletes a key,
a null section deletes the section), bumps `version`, and is refused on a version mismatch.
Pure logic with an injected clock; no I/O.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from typing import Any, Final

from components.core.clock import Clock, SystemClock

# ShadowManager's default `shadowDocumentSizeLimitBytes` (the AWS IoT limit is 8 KB too).
MAX_DOCUMENT_BYTES: Final = 8 * 1024
_NAME_RE: Final = re.compile(r"^[A-Za-z0-9:_-]{1,128}$")
_SECTIONS: Final = ("desired", "reported")


class ShadowError(ValueError):
    def __init__(self, message: str, evidence: Any = None) -> None:
        super().__init__(message)
        self.evidence = evidence


class ShadowInvalid(ShadowError):
    pass


class ShadowNotFound(ShadowError):
    pass


class ShadowConflict(ShadowError):
    pass


def _merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        elif isinstance(value, dict):
            fresh: dict[str, Any] = {}
            _merge(fresh, value)
            target[key] = fresh
        else:
            target[key] = copy.deepcopy(value)


def _stamp(patch: Any, ts: int) -> Any:
    """Metadata for a patch: every leaf replaced by {"timestamp": ts}."""
    if isinstance(patch, dict):
        return {k: _stamp(v, ts) for k, v in patch.items()}
    if isinstance(patch, list):
        return [_stamp(v, ts) for v in patch]
    return {"timestamp": ts}


def delta(desired: dict[str, Any], reported: dict[str, Any]) -> dict[str, Any]:
    """Desired keys whose value differs from reported (objects compared key by key)."""
    out: dict[str, Any] = {}
    for key, want in desired.items():
        have = reported.get(key)
        if isinstance(want, dict) and isinstance(have, dict):
            inner = delta(want, have)
            if inner:
                out[key] = inner
        elif want != have:
            out[key] = copy.deepcopy(want)
    return out


class ShadowStore:
    def __init__(self, clock: Clock | None = None, max_document_bytes: int = MAX_DOCUMENT_BYTES):
        self._clock = clock or SystemClock()
        self._max = max_document_bytes
        self._docs: dict[tuple[str, str], dict[str, Any]] = {}
        self._versions: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(thing: str, shadow: str | None) -> tuple[str, str]:
        if not isinstance(thing, str) or not _NAME_RE.match(thing):
            raise ShadowInvalid(f"invalid thing name {thing!r}", thing)
        if shadow and not _NAME_RE.match(shadow):
            raise ShadowInvalid(f"invalid shadow name {shadow!r}", shadow)
        return thing, shadow or ""

    def _now_s(self) -> int:
        return self._clock.wall_ms() // 1000

    def get(self, thing: str, shadow: str | None = None) -> dict[str, Any]:
        key = self._key(thing, shadow)
        with self._lock:
            doc = self._docs.get(key)
            if doc is None:
                raise ShadowNotFound(f"No shadow exists with name: '{shadow or thing}'", key)
            state = copy.deepcopy(doc["state"])
            diff = delta(state.get("desired", {}), state.get("reported", {}))
            if diff:
                state["delta"] = diff
            return {
                "state": state,
                "metadata": copy.deepcopy(doc["metadata"]),
                "version": doc["version"],
                "timestamp": self._now_s(),
            }

    def update(self, thing: str, shadow: str | None, payload: bytes) -> dict[str, Any]:
        key = self._key(thing, shadow)
        if len(payload) > self._max:
            raise ShadowInvalid(
                f"The payload exceeds the maximum size allowed ({len(payload)} > {self._max})"
            )
        try:
            request = json.loads(payload)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ShadowInvalid(f"Invalid JSON: {exc}", payload[:64]) from exc
        if not isinstance(request, dict) or "state" not in request:
            raise ShadowInvalid("Missing required node: state", request)
        state = request["state"]
        if not isinstance(state, dict) or not set(state) <= {*_SECTIONS, "delta"}:
            raise ShadowInvalid("State node must be an object with desired/reported", state)
        if "delta" in state:
            raise ShadowInvalid("State contains an invalid node: 'delta'", state)
        for section in _SECTIONS:
            if (
                section in state
                and state[section] is not None
                and not isinstance(state[section], dict)
            ):
                raise ShadowInvalid(f"{section} node must be an object", state)
        ts = self._now_s()
        with self._lock:
            doc = self._docs.get(key)
            expected = request.get("version")
            current = self._versions.get(key, 0)
            if expected is not None and (doc is None or expected != doc["version"]):
                raise ShadowConflict("Version conflict", {"expected": expected, "current": current})
            new = copy.deepcopy(doc) if doc else {"state": {}, "metadata": {}}
            for section in _SECTIONS:
                if section not in state:
                    continue
                if state[section] is None:
                    new["state"].pop(section, None)
                    new["metadata"].pop(section, None)
                    continue
                _merge(new["state"].setdefault(section, {}), state[section])
                _merge(new["metadata"].setdefault(section, {}), _stamp(state[section], ts))
                # Metadata of deleted keys goes too.
                _prune(new["metadata"][section], new["state"][section])
            size = len(json.dumps(new["state"]).encode())
            if size > self._max:
                raise ShadowInvalid(f"The resulting document is {size} bytes > {self._max}")
            new["version"] = current + 1
            self._docs[key] = new
            self._versions[key] = current + 1
            accepted: dict[str, Any] = {
                "state": copy.deepcopy(state),
                "metadata": {s: _stamp(state[s], ts) for s in _SECTIONS if state.get(s)},
                "version": new["version"],
                "timestamp": ts,
            }
            if "clientToken" in request:
                accepted["clientToken"] = request["clientToken"]
            return accepted

    def delete(self, thing: str, shadow: str | None = None) -> dict[str, Any]:
        key = self._key(thing, shadow)
        with self._lock:
            doc = self._docs.pop(key, None)
            if doc is None:
                raise ShadowNotFound(f"No shadow exists with name: '{shadow or thing}'", key)
            # The version survives deletion, as in AWS IoT.
            return {"version": doc["version"], "timestamp": self._now_s()}

    def names(self, thing: str) -> list[str]:
        self._key(thing, None)
        with self._lock:
            return sorted(s for t, s in self._docs if t == thing and s)


def _prune(metadata: dict[str, Any], state: dict[str, Any]) -> None:
    for key in list(metadata):
        if key not in state:
            del metadata[key]
        elif isinstance(metadata[key], dict) and isinstance(state[key], dict):
            _prune(metadata[key], state[key])
