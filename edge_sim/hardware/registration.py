"""The bus registry for a venv that holds only a component's wheels (the device and nucleus
tiers): the buses this environment registers (edge_sim's "sim", from pyproject.toml) written
as a minimal dist-info, so `importlib.metadata` in that venv finds them the way
components/core/buses.py looks them up. The modules themselves come from the folder the
venv's .pth file adds."""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path

from components.core.buses import BUS_GROUP

DIST_INFO = "floorline_emulated_buses-0.dist-info"


def register_buses(site_packages: Path) -> Path:
    """Writes the dist-info into `site_packages`; returns its folder."""
    found = sorted(entry_points(group=BUS_GROUP), key=lambda ep: ep.name)
    if not found:
        raise LookupError(f"no {BUS_GROUP!r} entry points installed here to pass on")
    info = site_packages / DIST_INFO
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: floorline-emulated-buses\nVersion: 0\n"
    )
    lines = [f"[{BUS_GROUP}]", *(f"{ep.name} = {ep.value}" for ep in found)]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    return info
