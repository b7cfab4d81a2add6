"""`python -m cloud.dashboard --lake DIR [--port N]`: the fleet dashboard over a local lake."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from cloud.dashboard import model
from cloud.dashboard.server import App, make_server
from cloud.dashboard.snapshot import LAKE_DB
from components.core.clock import SystemClock

DEFAULT_LAKE = os.environ.get("FLOORLINE_LAKE", "lake")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cloud.dashboard", description=__doc__)
    parser.add_argument("--lake", default=DEFAULT_LAKE, help="lake folder (env FLOORLINE_LAKE)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    parser.add_argument("--port", type=int, default=8050, help="0 picks a free port")
    parser.add_argument("--refresh-seconds", type=float, default=5.0, help="page poll interval")
    parser.add_argument("--offline-after-seconds", type=float, default=300.0,
                        help="a device not seen for this long is listed offline")  # fmt: skip
    parser.add_argument("--temperature-stream", default="env/bme280@%",
                        help="SQL LIKE pattern of the stream the drift chart shows")  # fmt: skip
    parser.add_argument(
        "--battery-cells",
        type=int,
        default=None,
        help="lithium-ion cells in series behind the INA219 bus voltage: the "
        "battery column estimates their charge (default: not a battery)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    lake = Path(args.lake)
    if not (lake / LAKE_DB).is_file():  # e.g. started before the simulation: the page waits
        print(f"WARN no lake at {lake} yet (expected {lake / LAKE_DB}); the page shows "
              "data once it appears", file=sys.stderr)  # fmt: skip
    if args.refresh_seconds <= 0 or args.offline_after_seconds <= 0:
        print("FAIL --refresh-seconds and --offline-after-seconds must be > 0", file=sys.stderr)
        return 2
    app = App(
        lake_root=lake,
        clock=SystemClock(),
        settings=model.Settings(
            offline_after_s=args.offline_after_seconds,
            temperature_stream=args.temperature_stream,
            battery_cells=args.battery_cells,
        ),
        refresh_s=args.refresh_seconds,
    )
    server = make_server(app, args.host, args.port)
    host, port = str(server.server_address[0]), int(server.server_address[1])
    print(f"dashboard on http://{host}:{port}/ over {lake}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass  # Ctrl-C is the normal way to stop it
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
