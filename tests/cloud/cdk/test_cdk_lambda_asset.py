"""Lambda assets: the handler plus exactly the project modules it reaches, runnable alone."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest

from cloud.cdk.lambda_asset import DECODER_HANDLER, code_dir, module_closure
from components.core import batch
from components.core.envelope import Record


def test_decoder_asset_holds_the_handler_and_the_modules_it_reaches() -> None:
    assert module_closure(DECODER_HANDLER) == [
        "cloud/__init__.py",
        "cloud/lake/__init__.py",
        "cloud/lake/decode.py",
        "cloud/lake/rows.py",
        "components/__init__.py",
        "components/core/__init__.py",
        "components/core/batch.py",
        "components/core/envelope.py",
        "components/core/limits.py",
        "components/core/topics.py",
    ]
    stage = code_dir(DECODER_HANDLER)
    files = sorted(p.relative_to(stage).as_posix() for p in stage.rglob("*.py"))
    assert files == sorted([*module_closure(DECODER_HANDLER), "handler.py"])


def test_closure_follows_relative_lazy_and_package_imports(tmp_path: Path) -> None:
    """An independent tree: each import form resolves to its file, nothing third-party."""
    for path, text in {
        "app/__init__.py": "",
        # The entry is copied to the asset's root as handler.py: absolute imports only there.
        "app/main.py": "import json\nimport app.helper\nfrom app.sub.deep import x\n"
        "def f():\n    import app.lazy\n",
        "app/helper.py": "import boto3\nfrom .sub import other as o\n",
        "app/lazy.py": "",
        "app/sub/__init__.py": "from .deep import x\n",
        "app/sub/deep.py": "x = 1\n",
        "app/sub/other.py": "",
        "app/unused.py": "",
    }.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    assert module_closure(tmp_path / "app" / "main.py", tmp_path) == [
        "app/__init__.py",
        "app/helper.py",
        "app/lazy.py",
        "app/sub/__init__.py",
        "app/sub/deep.py",
        "app/sub/other.py",
    ]


@pytest.mark.slow
def test_packaged_decoder_runs_alone() -> None:
    """The staged asset decodes a batch in an interpreter that sees nothing but the asset."""
    record = Record(device="dev-7", stream="env/bme280@0x76", seq=1, cls="raw", mono_ns=1,
                    wall_ms=1_790_000_000_000, clock_synced=True, payload={"t": 1})  # fmt: skip
    data = batch.encode([record], site="plant-a")
    kinesis = {"sequenceNumber": "1", "approximateArrivalTimestamp": 1.79e9,
               "data": base64.b64encode(data).decode()}  # fmt: skip
    event = {"Records": [{"kinesis": kinesis}]}
    script = (
        "import sys, json; sys.path[:0] = [sys.argv[1]]; import handler; "
        "assert 'pyarrow' not in sys.modules; calls = []; "
        "put = lambda r: calls.append(r) or [True] * len(r); "
        "out = handler.process(json.load(sys.stdin), put, None); "
        "print(json.dumps([out, [b.decode() for c in calls for b in c]]))"
    )
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-c", script, str(code_dir(DECODER_HANDLER))],
        input=json.dumps(event), capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    answer, bodies = json.loads(proc.stdout.strip().splitlines()[-1])
    assert answer == {"batchItemFailures": []}
    (row,) = [json.loads(line) for body in bodies for line in body.splitlines()]
    assert (row["device"], row["seq"], row["site"], row["dt"]) == ("dev-7", 1, "plant-a",
                                                                  "2026-09-21")  # fmt: skip
