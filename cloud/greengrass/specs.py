"""Find a component's typed configuration (`components.core.config.Spec`), if it has one.

A component declares its Spec as a module-level object in `components/<package>/config.py`
(or in its package `__init__`). Recipes and site files are checked against it once it exists.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from components.core.config import Spec


class AmbiguousSpec(ValueError):
    """A module declares more than one Spec: which one is the component's is unclear."""


def component_spec(package: str) -> Spec[Any] | None:
    """The Spec of `components.<package>`, or None when it declares none yet."""
    for name in (f"components.{package}.config", f"components.{package}"):
        module = _module_named(name, package)
        if module is None:
            continue
        specs = [v for v in vars(module).values() if isinstance(v, Spec)]
        if len(specs) > 1:
            raise AmbiguousSpec(f"{module.__name__} declares {len(specs)} Spec objects")
        if specs:
            return specs[0]
    return None


def _module_named(name: str, package: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name not in (name, f"components.{package}"):
            raise
        return None
