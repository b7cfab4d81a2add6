"""Package a Lambda handler with exactly the project modules it imports, and nothing else.

The stack's functions (the batch decoder, the provisioning hook) share code with the device
and the local lake (batch format, envelope, topic scheme, the lake's decode path). Each asset
carries its handler plus the first-party modules reachable from it (found by reading imports,
not listed by hand): no SQLite log, no CDK, no third-party packages.

What a piece of code needs from this repository is answered once, by cloud/import_graph.py,
for Lambda assets and component artifacts alike.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

from cloud import import_graph

REPO_ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
DECODER_HANDLER = HERE / "decoder" / "handler.py"
PROVISIONING_HOOK_HANDLER = HERE / "provisioning_hook" / "handler.py"
HANDLER = "handler.handler"  # every asset puts its handler at the root as handler.py


def module_closure(entry: Path, root: Path = REPO_ROOT) -> list[str]:
    """Every first-party module reachable from `entry` through imports, as repo-relative
    POSIX paths, sorted; package `__init__.py` files of each module included (the walk is
    cloud/import_graph.py's, the one component artifacts use too).

    First-party: a top-level package under `root`; the standard library and third-party
    packages (boto3 in the Lambda runtime) are left to the runtime. Imports inside functions
    count too: a lazily imported project module must be in the package all the same.
    """
    first_party = tuple(sorted(p.name for p in root.iterdir() if (p / "__init__.py").is_file()))
    found = import_graph.closure(root, [], first_party, entry_files=(entry,))
    files = set(found.modules.values()) - {entry}
    return sorted(path.relative_to(root).as_posix() for path in files)


@functools.cache
def code_dir(handler_file: Path) -> Path:
    """A staging directory laid out as the Lambda sees it (built once per process): the
    handler as handler.py at the root, the modules it reaches at their repo paths."""
    stage = Path(tempfile.mkdtemp(prefix=f"floorline-{handler_file.parent.name}-"))
    atexit.register(shutil.rmtree, stage, True)
    for relative in module_closure(handler_file):
        target = stage / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO_ROOT / relative, target)
    shutil.copyfile(handler_file, stage / "handler.py")
    return stage
