from __future__ import annotations

from collections.abc import Mapping
from dataclasses import FrozenInstanceError, dataclass
from typing import Any

import pytest

from components.core.config import ConfigError, ConfigHolder, Spec, setting


def _check_thresholds(v):
    for stream, t in v.items():
        if not isinstance(t, dict) or "high" not in t:
            raise ValueError(f"threshold for {stream!r} needs 'high'")
    return v


@dataclass(frozen=True)
class Sampling:
    sampleIntervalSeconds: float = setting(1.0, "how often to sample", min=0.01, max=3600)
    logBudgetBytes: int = setting(256 << 20, "log byte budget", min=1 << 20)
    mode: str = setting("normal", "BME280 mode", choices=("normal", "forced"))
    enabled: bool = setting(True, "read this sensor")
    thresholds: Mapping[str, Any] = setting(
        {}, "per-stream thresholds", check=_check_thresholds, raw=dict
    )


def _spec() -> Spec[Sampling]:
    return Spec(Sampling)


def test_defaults_and_overrides():
    cfg = _spec().parse({"sampleIntervalSeconds": 5, "logBudgetBytes": 2097152.0})
    assert cfg.sampleIntervalSeconds == 5.0 and isinstance(cfg.sampleIntervalSeconds, float)
    assert cfg.logBudgetBytes == 2 << 20 and isinstance(cfg.logBudgetBytes, int)
    assert isinstance(cfg, Sampling)
    assert cfg.mode == "normal" and cfg.enabled is True


def test_every_bad_key_is_named_with_its_reason():
    with pytest.raises(ConfigError) as err:
        _spec().parse(
            {
                "sampleIntervalSeconds": -1,
                "logBudgetBytes": "lots",
                "mode": "turbo",
                "enabled": "yes",
                "sampleIntervalSecond": 1,
                "thresholds": {"env/a@1": {"low": 1}},
            }
        )
    errors = err.value.errors
    assert set(errors) == {
        "sampleIntervalSeconds",
        "logBudgetBytes",
        "mode",
        "enabled",
        "sampleIntervalSecond",
        "thresholds",
    }
    assert "below the minimum" in errors["sampleIntervalSeconds"]
    assert "misspelt" in errors["sampleIntervalSecond"]
    assert "needs 'high'" in errors["thresholds"]


def test_nan_and_booleans_are_not_numbers():
    with pytest.raises(ConfigError):
        _spec().parse({"sampleIntervalSeconds": float("nan")})
    with pytest.raises(ConfigError):
        _spec().parse({"logBudgetBytes": True})


def test_access_control_from_the_recipe_is_the_nucleus_business():
    assert _spec().parse({"accessControl": {"aws.greengrass.ipc.pubsub": {}}}).mode == "normal"


def test_rejected_update_keeps_the_old_config_in_force():
    holder = ConfigHolder(_spec(), {"sampleIntervalSeconds": 2})
    err = holder.update({"sampleIntervalSeconds": 0})
    assert err is not None and "sampleIntervalSeconds" in err.errors
    assert holder.current.sampleIntervalSeconds == 2.0 and holder.rejected == 1
    assert holder.update({"sampleIntervalSeconds": 3}) is None
    assert holder.current.sampleIntervalSeconds == 3.0


def test_non_object_config_is_rejected():
    with pytest.raises(ConfigError):
        _spec().parse(["not", "an", "object"])


def test_numbers_and_booleans_as_nucleus_lite_gives_them() -> None:
    """Nucleus lite returns every value read from YAML as text ('5', '1.5', 'true')."""

    @dataclass(frozen=True)
    class Scalars:
        count: int = setting(1, "n", min=0)
        ratio: float = setting(1.0, "r")
        flag: bool = setting(False, "f")
        name: str = setting("x", "s")

    spec = Spec(Scalars)
    cfg = spec.parse({"count": "5", "ratio": "1.5", "flag": "true", "name": "7"})
    assert (cfg.count, cfg.ratio, cfg.flag, cfg.name) == (5, 1.5, True, "7")
    assert spec.parse({"flag": "False", "ratio": "2"}).ratio == 2.0
    with pytest.raises(ConfigError) as caught:
        spec.parse({"count": "5.5", "ratio": "nan", "flag": "yes please", "name": 7})
    assert set(caught.value.errors) == {"count", "ratio", "flag", "name"}
    with pytest.raises(ConfigError, match="below the minimum"):
        spec.parse({"count": "-1"})


def test_defaults_are_parsed_like_given_values() -> None:
    @dataclass(frozen=True)
    class Names:
        names: tuple[str, ...] = setting(
            ["b", "a"], "names", check=lambda v: tuple(sorted(v)), raw=list
        )

    spec = Spec(Names)
    assert spec.parse({}).names == ("a", "b")
    assert spec.parse({"names": ["d", "c"]}).names == ("c", "d")


def test_settings_are_read_only() -> None:
    cfg = _spec().parse({})
    with pytest.raises(FrozenInstanceError):
        cfg.mode = "forced"  # type: ignore[misc]


def test_the_holder_keeps_the_json_it_parsed() -> None:
    """The raw configuration in force (every key present, as given) is what a partial update
    from the cloud is merged over: the typed values need not be JSON."""
    holder = ConfigHolder(_spec(), {"mode": "forced", "accessControl": {}})
    assert holder.raw == {**_spec().defaults(), "mode": "forced"}
    assert holder.update({**holder.raw, "enabled": "nope"}) is not None
    assert holder.raw["enabled"] is True and holder.raw["mode"] == "forced"
    holder.raw["mode"] = "changed"  # a copy: the holder's own stays
    holder.raw["thresholds"]["env/a@1"] = {"high": 1}
    assert holder.raw["mode"] == "forced" and holder.raw["thresholds"] == {}


def test_a_declaration_that_cannot_be_read_is_refused() -> None:
    @dataclass(frozen=True)
    class Untyped:
        entries: tuple[str, ...] = setting([], "no JSON type given")

    with pytest.raises(TypeError, match="needs raw="):
        Spec(Untyped)

    @dataclass(frozen=True)
    class Undeclared:
        plain: int = 1

    with pytest.raises(TypeError, match="not declared with setting"):
        Spec(Undeclared)

    @dataclass
    class Mutable:
        n: int = setting(1, "n")

    with pytest.raises(TypeError, match="not a frozen dataclass"):
        Spec(Mutable)
