"""`python -m edge_sim.hardware SCENARIO.json`: bring a scenario's hardware up for components
run by hand. RFID readers start on ptys; the I2C chips are built inside each component process
from the same scenario (they print here what to export). Runs until Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import sys

from rich.console import Console
from rich.table import Table

from components.core.buses import ENV_I2C_BUS
from components.core.stopping import Stop
from edge_sim.hardware.bus import ENV_SIM_SCENARIO
from edge_sim.hardware.readers import start_readers
from edge_sim.world.scenario import load, read_scenario_file


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edge_sim.hardware")
    parser.add_argument("scenario", help="scenario file (JSON or YAML)")
    args = parser.parse_args(argv)
    scenario = read_scenario_file(args.scenario)
    chips = load(scenario)  # validates the chip section before anything starts
    readers = start_readers(scenario)
    console = Console()
    table = Table(title="emulated hardware")
    for col in ("kind", "name", "where"):
        table.add_column(col)
    for spec in chips:
        table.add_row("i2c", spec.chip, f"0x{spec.address:02x}")
    for name, reader in readers.items():
        table.add_row("serial", f"{reader.protocol} {name}", reader.path)
    console.print(table)
    console.print(f"export {ENV_I2C_BUS}=sim {ENV_SIM_SCENARIO}={args.scenario}")
    stop = Stop().on_signals(signal.SIGINT, signal.SIGTERM)
    try:
        stop.wait()
    finally:
        for reader in readers.values():
            reader.stop()
        for name, reader in readers.items():
            console.print(
                f"{name}: {reader.frames_sent} frames sent, "
                f"{reader.frames_corrupted} corrupted, {reader.polls_answered} polls"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
