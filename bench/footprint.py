"""Footprint of each component as a device gets it: artifact sizes, venv size on disk, offline
Install time under QEMU emulation (arm64 root) and natively, and memory at steady state.

    python -m bench.footprint [--steady-seconds 60] [--no-emulation]

Memory is measured natively (emulation inflates it): all six components started from their
artifacts and venvs in the default site configuration (recipe defaults; edge_sim's emulated
chips and mock GPIO pins standing in for the board), against edge_sim's nucleus, then RSS and
PSS of each component's process group (HttpIngest's commit process included) after
`--steady-seconds`. The sum is set against the goal: every floorline process of one device
within 150 MiB RSS, so that the suite with nucleus lite fits a 512 MB Pi Zero 2 W. Then what
each third-party package costs when imported alone in its component's venv: where the memory
goes. Needs root for the arm64 part (chroot, unshare); writes bench/results/footprint.json.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bench.fleet import group_pids, memory_kib
from bench.report import emit
from cloud.greengrass import artifact, layout
from cloud.greengrass.build import BuiltComponent, build
from edge_sim.device_run import PREP, deployment, emulated_hardware, install, run_until_main_loop
from edge_sim.nucleus.device_root import GreengrassRoot, Prepared, Running, copy_root, remove_root

GOAL_RSS_MIB = 150
MIB = 1 << 20
IMAGE_SCRIPT = layout.REPO_ROOT / "scripts" / "device-image.sh"
# What an import adds to a bare interpreter: its VmRSS after the import (ru_maxrss would carry
# the forking parent's peak over exec).
_RSS_AFTER = (
    "{imports}; import re; "
    "print(re.search(r'VmRSS:\\s+(\\d+)', open('/proc/self/status').read()).group(1))"
)


def du_bytes(path: Path) -> int:
    done = subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True, check=True)
    return int(done.stdout.split()[0])


def short(name: str) -> str:
    return name.removeprefix(layout.NAME_PREFIX)


def installs(
    groot: GreengrassRoot, prepared: Mapping[str, Prepared], configs: Mapping[str, Any]
) -> dict[str, dict[str, float]]:
    out = {}
    for name, p in prepared.items():
        result = install(groot, p, configs[name], 1800)
        if result.returncode != 0:
            raise SystemExit(f"{name}: Install failed\n{result.output[-3000:]}")
        venv = groot.host(p.work) / "venv"
        out[name] = {"seconds": result.seconds, "venv_bytes": du_bytes(venv)}
    return out


def emulated(built: Mapping[str, BuiltComponent], tmp: Path) -> dict[str, dict[str, float]]:
    done = subprocess.run([str(IMAGE_SCRIPT)], capture_output=True, text=True, check=True)
    root = copy_root(Path(done.stdout.strip().splitlines()[-1]), tmp / "root")
    try:
        groot = GreengrassRoot(root, "/greengrass/v2", "aarch64", "ggc_user")
        prepared = {n: groot.lay_out(b) for n, b in built.items()}
        return installs(groot, prepared, deployment(built, "/var/lib/floorline/log.sqlite"))
    finally:
        remove_root(root)


def import_costs(venv_python: str, cwd: str, modules: list[str]) -> dict[str, int]:
    """RSS (KiB) each module adds to a bare interpreter of that venv once imported."""

    def peak(imports: str) -> int:
        code = _RSS_AFTER.format(imports=imports)
        done = subprocess.run(
            [venv_python, "-c", code], capture_output=True, text=True, cwd=cwd, check=True
        )
        return int(done.stdout.split()[-1])

    base = peak("pass")
    return {m: peak(f"import {m}") - base for m in modules}


def steady_memory(
    prepared: Mapping[str, Prepared], configs: Mapping[str, Any], tmp: Path, steady_s: float
) -> dict[str, dict[str, int]]:
    groot = GreengrassRoot(None, str(tmp / "gg"), "amd64", None)
    hardware = tmp / "hw"
    venvs = [Path(p.work) / "venv" for p in prepared.values()]
    env = emulated_hardware(hardware, str(hardware), venvs)
    samples: dict[str, list[dict[str, int]]] = {n: [] for n in prepared}

    def measure(running: Mapping[str, Running]) -> None:
        end = time.monotonic() + steady_s
        while time.monotonic() < end:
            time.sleep(min(5.0, max(0.0, end - time.monotonic())))
        for _ in range(3):  # three samples a second apart; the median is reported
            groups = group_pids({r.proc.pid for r in running.values()})
            for name, r in running.items():
                samples[name].append(memory_kib(groups[r.proc.pid]))
            time.sleep(1.0)

    logs = tmp / "logs"
    logs.mkdir()
    run = run_until_main_loop(
        groot, prepared, configs, str(tmp / "ipc.sock"), env, logs, 300, measure
    )
    if set(run.started_s) != set(prepared):
        raise SystemExit(f"not every component reached its main loop: {sorted(run.started_s)}")
    return {
        name: {k: int(statistics.median(s[k] for s in got)) for k in ("rss", "pss")}
        for name, got in samples.items()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.footprint")
    parser.add_argument("--steady-seconds", type=float, default=60.0)
    parser.add_argument("--no-emulation", action="store_true", help="skip the arm64 installs")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="fp", dir="/tmp") as tmp_name:
        tmp = Path(tmp_name)
        built = {n: b for n, b in build(out=tmp / "build").items() if b.artifact_zip}
        sizes_of = {
            n: {f: p.stat().st_size for f, p in b.artifacts.items()} for n, b in built.items()
        }
        arm = {} if args.no_emulation else emulated(built, tmp)
        native_root = GreengrassRoot(None, str(tmp / "gg"), "amd64", None)
        (tmp / "data").mkdir()
        configs = deployment(built, str(tmp / "data" / "log.sqlite"))
        prepared = {n: native_root.lay_out(b) for n, b in built.items() if n != PREP}
        native = installs(native_root, prepared, configs)
        memory = steady_memory(prepared, configs, tmp, args.steady_seconds)
        costs = {
            name: import_costs(
                f"{p.work}/venv/bin/python",
                f"{p.values['artifacts:decompressedPath']}/{layout.ARTIFACT_ROOT}",
                sorted(
                    artifact.code_closure(
                        layout.REPO_ROOT, layout.package_name(short(name))
                    ).third_party
                ),
            )
            for name, p in prepared.items()
        }
    rows: list[dict[str, Any]] = []
    for name in sorted(built):
        key = short(name)
        sizes = sizes_of[name]
        rows.append(
            {"figure": f"{key} code zip", "value": sizes[layout.ARTIFACT_ZIP] / 1024, "unit": "KiB"}
        )
        for arch in ("aarch64", "amd64"):
            rows.append(
                {
                    "figure": f"{key} {layout.wheels_zip(arch)}",
                    "value": sizes[layout.wheels_zip(arch)] / MIB,
                    "unit": "MiB",
                }
            )
        for platform, results in (("arm64", arm), ("amd64", native)):
            if name in results:
                how = "QEMU" if platform == "arm64" else "native"
                rows += [
                    {"figure": f"{key} venv {platform}", "unit": "MiB",
                     "value": results[name]["venv_bytes"] / MIB},
                    {"figure": f"{key} Install {platform} ({how}, offline)", "unit": "s",
                     "value": results[name]["seconds"]},
                ]  # fmt: skip
        if name in memory:
            m = memory[name]
            rows.append(
                {
                    "figure": f"{key} RSS / PSS at steady state",
                    "value": m["rss"] / 1024,
                    "unit": "MiB",
                    "note": f"PSS {m['pss'] / 1024:.1f} MiB",
                }
            )
            top = sorted(costs[name].items(), key=lambda kv: -kv[1])
            rows.append(
                {
                    "figure": f"{key} import cost (RSS added)",
                    "value": None,
                    "unit": "MiB",
                    "note": ", ".join(f"{k} {v / 1024:.1f}" for k, v in top),
                }
            )
    total_rss = sum(m["rss"] for m in memory.values()) / 1024
    total_pss = sum(m["pss"] for m in memory.values()) / 1024
    rows.append(
        {
            "figure": "all floorline processes of one device, RSS",
            "value": total_rss,
            "unit": "MiB",
            "goal": f"<= {GOAL_RSS_MIB}",
            "ratio": total_rss / GOAL_RSS_MIB,
        }
    )
    rows.append(
        {
            "figure": "all floorline processes of one device, PSS",
            "value": total_pss,
            "unit": "MiB",
            "goal": f"<= {GOAL_RSS_MIB} (RSS)",
            "ratio": total_pss / GOAL_RSS_MIB,
        }
    )
    emit("footprint", rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
