"""A venv holding only a component's wheels finds edge_sim's buses through the dist-info
register_buses writes, as components/core/buses.py looks them up."""

from importlib.metadata import distributions

from components.core.buses import BUS_GROUP
from edge_sim.hardware.registration import register_buses


def test_written_dist_info_carries_the_registered_buses(tmp_path):
    register_buses(tmp_path)
    (dist,) = distributions(path=[str(tmp_path)])
    found = {ep.name: ep.value for ep in dist.entry_points if ep.group == BUS_GROUP}
    assert found == {"sim": "edge_sim.hardware.bus:open_sim_bus"}
