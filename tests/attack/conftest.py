"""The attack suite reuses the real-process fixtures of the components it attacks."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "components" / "http_ingest"))

from ingest_server import make_server as make_server  # noqa: E402  (a fixture)
