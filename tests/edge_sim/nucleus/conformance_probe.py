"""Runs every conformance case against the nucleus named by the component environment
(`SVCUID`, `AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT`), as a component would, and
prints one JSON line: {case name: outcome}. Run directly as a script by edge_sim's tests and by
nucleus lite's recipe-runner."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2  # noqa: E402
from conformance_cases import run_all  # noqa: E402

MARK = "conformance-results "

if __name__ == "__main__":
    results = run_all(GreengrassCoreIPCClientV2)
    print(MARK + json.dumps(results), flush=True)
