"""Typed component configuration, as Greengrass GetConfiguration returns it.

A component declares its keys once (name, type, default, bounds, meaning); the recipe's
DefaultConfiguration is checked against the same declaration in the tests. A configuration
from the cloud is validated as a whole: any bad value rejects the update with errors that name
each key, and the configuration already in force stays.
"""

from __future__ import annotations

import copy
import ipaddress
import logging
import math
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import Field, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

log = logging.getLogger("floorline.config")

S = TypeVar("S")

# Keys of a component's configuration that the nucleus reads (access control) or its recipe's
# lifecycle scripts read (pip's index options for Install), never the component itself.
NUCLEUS_KEYS = frozenset({"accessControl", "pipIndexOptions"})


class ConfigError(ValueError):
    """One or more configuration values were rejected; `.errors` maps key -> reason."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        self.errors = dict(errors)
        super().__init__("; ".join(f"{k}: {v}" for k, v in self.errors.items()))


# Greengrass nucleus lite gives every value read from YAML (its config files, a local
# deployment's YAML recipe) back as text: `5`, `1.5`, `true` arrive as '5', '1.5', 'true'.
_BOOL_TEXT = {"true": True, "false": False}


def _scalar_from_text(value: Any, wanted: type) -> Any:
    """A number or boolean spelled as YAML text, as its type; anything else unchanged (so a
    bad value still fails the type check with its own text)."""
    if not isinstance(value, str) or wanted not in (bool, int, float):
        return value
    text = value.strip()
    if wanted is bool:
        return _BOOL_TEXT.get(text.lower(), value)
    try:
        return int(text) if wanted is int else float(text)
    except ValueError:
        return value


@dataclass(frozen=True)
class Key:
    """One configuration key as the recipe writes it: its JSON type, default and bounds."""

    name: str
    type: type
    default: Any
    doc: str
    min: float | None = None
    max: float | None = None
    choices: tuple[Any, ...] | None = None
    # Extra validation for structured values: returns the cleaned value (nested entries as
    # typed objects) or raises ValueError.
    check: Callable[[Any], Any] | None = None

    def coerce(self, value: Any) -> Any:
        v = _scalar_from_text(value, self.type)
        if self.type is bool:
            if not isinstance(v, bool):
                raise ValueError(f"expected true or false, got {value!r}")
        elif self.type is int:
            if isinstance(v, float) and v.is_integer():
                v = int(v)  # JSON and YAML round trips turn 5 into 5.0
            if isinstance(v, bool) or not isinstance(v, int):
                raise ValueError(f"expected an integer, got {value!r}")
        elif self.type is float:
            if isinstance(v, bool) or not isinstance(v, int | float):
                raise ValueError(f"expected a number, got {value!r}")
            v = float(v)
            if not math.isfinite(v):
                raise ValueError(f"expected a finite number, got {value!r}")
        elif not isinstance(v, self.type):
            raise ValueError(f"expected {self.type.__name__}, got {type(value).__name__}")
        if self.min is not None and v < self.min:
            raise ValueError(f"{v!r} is below the minimum {self.min}")
        if self.max is not None and v > self.max:
            raise ValueError(f"{v!r} is above the maximum {self.max}")
        if self.choices is not None and v not in self.choices:
            raise ValueError(f"{v!r} is not one of {list(self.choices)}")
        if self.check is not None:
            v = self.check(v)
        return v


_SETTING = "floorline.setting"
_SCALARS: dict[Any, type] = {t: t for t in (bool, int, float, str)}
_SCALARS.update({t.__name__: t for t in (bool, int, float, str)})  # postponed annotations


@dataclass(frozen=True)
class _Declared:
    default: Any
    doc: str
    min: float | None
    max: float | None
    choices: tuple[Any, ...] | None
    check: Callable[[Any], Any] | None
    raw: type | None


def setting(
    default: Any,
    doc: str,
    *,
    min: float | None = None,
    max: float | None = None,
    choices: tuple[Any, ...] | None = None,
    check: Callable[[Any], Any] | None = None,
    raw: type | None = None,
) -> Any:
    """One key of a component's settings dataclass, declared on its field.

    `default` is written as a recipe writes it (JSON); it is parsed like any value. A field
    whose annotation is a bool, int, float or str takes that as its JSON type; a structured
    field names its JSON type in `raw` (list, dict) and its `check` returns the parsed value
    (e.g. a tuple of frozen entries), which is what the annotation declares."""
    declared = _Declared(default, doc, min, max, choices, check, raw)
    return field(metadata={_SETTING: declared})


def _key(f: Field[Any], owner: type) -> Key:
    declared = f.metadata.get(_SETTING)
    if not isinstance(declared, _Declared):
        raise TypeError(f"{owner.__name__}.{f.name} is not declared with setting()")
    json_type = declared.raw or _SCALARS.get(f.type)
    if json_type is None:
        raise TypeError(
            f"{owner.__name__}.{f.name}: a {f.type} field needs raw= (its JSON type) and check="
        )
    return Key(
        f.name,
        json_type,
        declared.default,
        declared.doc,
        declared.min,
        declared.max,
        declared.choices,
        declared.check,
    )


class Spec(Generic[S]):
    """The declared configuration of one component: its frozen settings dataclass, whose
    fields are the keys (declared with `setting`). `parse` gives an instance of it."""

    def __init__(self, settings: type[S]) -> None:
        if not (is_dataclass(settings) and settings.__dataclass_params__.frozen):  # type: ignore[attr-defined]
            raise TypeError(f"{settings.__name__} is not a frozen dataclass")
        self.settings = settings
        self.keys = {f.name: _key(f, settings) for f in fields(settings)}

    def defaults(self) -> dict[str, Any]:
        """The defaults as a recipe writes them."""
        return {name: k.default for name, k in self.keys.items()}

    def parse(self, raw: Mapping[str, Any] | None) -> S:
        """Defaults overlaid with `raw`; raises ConfigError naming every bad key."""
        return self.read(raw)[0]

    def read(self, raw: Mapping[str, Any] | None) -> tuple[S, dict[str, Any]]:
        """The settings parsed from `raw`, and `raw` completed: every key it leaves out at its
        default, as JSON (the nucleus's own keys left out). Raises ConfigError naming every
        bad key."""
        if raw is None:
            raw = {}
        if not isinstance(raw, Mapping):
            raise ConfigError({"<root>": f"expected an object, got {type(raw).__name__}"})
        errors = {n: "unknown key (misspelt?)" for n in raw if n not in self.keys}
        for name in NUCLEUS_KEYS:
            errors.pop(name, None)
        complete = {name: raw.get(name, key.default) for name, key in self.keys.items()}
        values: dict[str, Any] = {}
        for name, key in self.keys.items():
            # A default goes through the same parsing, so nested entries are objects either way.
            try:
                values[name] = key.coerce(complete[name])
            except ValueError as exc:
                errors[name] = str(exc)
        if errors:
            raise ConfigError(errors)
        return self.settings(**values), complete


class ConfigHolder(Generic[S]):
    """The configuration in force, replaced only by a valid update: `current` as typed
    settings, `raw` as the JSON it was parsed from (every key present)."""

    def __init__(self, spec: Spec[S], initial: Mapping[str, Any] | None = None) -> None:
        self.spec = spec
        self._lock = threading.Lock()
        self._current, self._raw = spec.read(initial)
        self.rejected = 0
        self.last_error: ConfigError | None = None

    @property
    def current(self) -> S:
        with self._lock:
            return self._current

    @property
    def raw(self) -> dict[str, Any]:
        """A copy: what a caller does with it never changes the configuration in force."""
        with self._lock:
            return copy.deepcopy(self._raw)

    def update(self, raw: Mapping[str, Any] | None) -> ConfigError | None:
        """Apply a full new configuration; returns the rejection (old config kept) or None."""
        try:
            new, complete = self.spec.read(raw)
        except ConfigError as exc:
            with self._lock:
                self.rejected += 1
                self.last_error = exc
            log.warning("event=config_rejected errors=%r", exc.errors)
            return exc
        with self._lock:
            self._current, self._raw = new, complete
        log.info("event=config_applied")
        return None


# ---------------------------------------------------------------------- checks of common values
# Shared by every component's Spec, so an address, a file or a certificate is judged the same
# way everywhere, when the configuration arrives (at start and from the cloud), not at first use.


def check_bind_address(value: str) -> str:
    """An IP address to listen on ("0.0.0.0" or "::": every interface)."""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address (e.g. 0.0.0.0, 127.0.0.1, ::)") from None
    return value


def check_site(value: str) -> str:
    """A site id: one topic level, by the rule the topics themselves use."""
    from components.core.topics import check_segment

    return check_segment(value, "siteId")


_KINESIS_STREAM_RE = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")


def check_kinesis_stream(value: str) -> str:
    """A Kinesis data stream name (the AWS rule: 1-128 of A-Z a-z 0-9 _ . -)."""
    if not _KINESIS_STREAM_RE.fullmatch(value):
        raise ValueError(f"{value!r} is not a Kinesis stream name ([A-Za-z0-9_.-]{{1,128}})")
    return value


def check_file_path(value: str) -> str:
    """A file the component will create or use: absolute, and its folder not a file."""
    if not value or "\0" in value:
        raise ValueError("expected an absolute file path, got an empty or NUL-bearing one")
    path = Path(value)
    if not path.is_absolute() or path.name in ("", ".", ".."):
        raise ValueError(f"{value!r} is not an absolute path to a file")
    if path.is_dir():
        raise ValueError(f"{value!r} is a directory")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ValueError(f"{str(parent)!r} (on the way to {value!r}) is not a directory")
            break
    return value


def check_pem_file(kind: str) -> Callable[[str], str]:
    """An optional PEM file ("" = not configured) that must hold a `kind` block, e.g.
    "CERTIFICATE" or "PRIVATE KEY" (also matches "RSA PRIVATE KEY", "EC PRIVATE KEY")."""

    def check(value: str) -> str:
        if not value:
            return value
        check_file_path(value)
        try:
            text = Path(value).read_text(encoding="ascii", errors="replace")
        except OSError as exc:
            raise ValueError(f"{value!r} cannot be read: {exc.strerror}") from None
        if not any(
            line.startswith("-----BEGIN ") and line.rstrip().endswith(f"{kind}-----")
            for line in text.splitlines()
        ):
            raise ValueError(f"{value!r} holds no PEM {kind}")
        return value

    return check
