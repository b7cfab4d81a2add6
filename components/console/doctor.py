"""`floorline doctor`: is this machine ready to run floorline? Each check is a pure function
over gathered facts and names the remedy for anything it finds wrong."""

from __future__ import annotations

import glob
import grp
import os
import pwd
import stat
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from components.console.config import CONNECT_TIMEOUT_S, ConsoleSettings
from components.console.levels import Level
from components.console.system import (
    nucleus_socket,
    tcp_reachable,
    timedatectl_synced,
    unix_reachable,
)
from components.core.ipc import SOCKET_ENV, TOKEN_ENV
from components.lib.gpio.status import log_out_of_room, refused_records

SERIAL_PATTERNS = ("/dev/ttyUSB*", "/dev/ttyACM*", "/dev/ttyAMA*", "/dev/serial0", "/dev/ttyS0")
RESTART = "sudo systemctl restart greengrass"


@dataclass(frozen=True)
class Node:
    """A device node: who may open it."""

    path: str
    exists: bool
    group: str | None = None
    group_rw: bool = False
    other_rw: bool = False


@dataclass
class DoctorFacts:
    user: str
    user_exists: bool
    user_groups: frozenset[str]
    i2c_nodes: list[Node]
    serial_nodes: list[Node]
    serial_configured: bool
    disk_free_bytes: int | None
    log_stats: Mapping[str, Any] | None  # None when the log could not be opened
    log_problem: str | None
    ntp_synced: bool | None
    greengrass_root: str
    greengrass_root_exists: bool
    in_component: bool  # this process has the nucleus's socket and token variables
    socket_path: str
    socket_problem: str | None
    broker: tuple[str, int] | None
    broker_problem: str | None
    socket_found_as: str = ""  # which nucleus names its socket so, or who configured it
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CheckResult:
    name: str
    level: Level
    detail: str
    remedy: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "level": self.level.name,
            "detail": self.detail,
            "remedy": self.remedy,
        }


# --------------------------------------------------------------------------- gathering
def node(path: str) -> Node:
    try:
        st = os.stat(path)
    except OSError:
        return Node(path, False)
    try:
        group = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        group = str(st.st_gid)
    rw = stat.S_IRGRP | stat.S_IWGRP
    orw = stat.S_IROTH | stat.S_IWOTH
    return Node(path, True, group, st.st_mode & rw == rw, st.st_mode & orw == orw)


def user_groups(user: str) -> tuple[bool, frozenset[str]]:
    try:
        pw = pwd.getpwnam(user)
    except KeyError:
        return False, frozenset()
    groups = {g.gr_name for g in grp.getgrall() if user in g.gr_mem}
    try:
        groups.add(grp.getgrgid(pw.pw_gid).gr_name)
    except KeyError:
        groups.add(str(pw.pw_gid))
    return True, frozenset(groups)


def gather(
    cfg: ConsoleSettings,
    log_stats: Mapping[str, Any] | None,
    log_problem: str | None,
    timeout_s: float = CONNECT_TIMEOUT_S,
) -> DoctorFacts:
    exists, groups = user_groups(cfg.componentUser)
    serial_paths = list(cfg.serialPorts) or sorted(
        {p for pattern in SERIAL_PATTERNS for p in glob.glob(pattern)}
    )
    log_dir = Path(cfg.logPath).parent
    try:
        st = os.statvfs(log_dir if log_dir.exists() else "/")
        free: int | None = st.f_bavail * st.f_frsize
    except OSError:
        free = None
    sock, nucleus = nucleus_socket(cfg.greengrassRoot, cfg.nucleusSocket)
    broker = (cfg.brokerHost, cfg.brokerPort) if cfg.brokerHost else None
    return DoctorFacts(
        user=cfg.componentUser,
        user_exists=exists,
        user_groups=groups,
        i2c_nodes=[node(p) for p in sorted(glob.glob("/dev/i2c-*"))],
        serial_nodes=[node(p) for p in serial_paths],
        serial_configured=bool(cfg.serialPorts),
        disk_free_bytes=free,
        log_stats=log_stats,
        log_problem=log_problem,
        ntp_synced=timedatectl_synced(),
        greengrass_root=cfg.greengrassRoot,
        greengrass_root_exists=Path(cfg.greengrassRoot).is_dir() or nucleus != "not found",
        in_component=bool(os.environ.get(SOCKET_ENV) and os.environ.get(TOKEN_ENV)),
        socket_path=sock,
        socket_found_as=nucleus,
        socket_problem=unix_reachable(sock, timeout_s),
        broker=broker,
        broker_problem=(tcp_reachable(*broker, timeout_s) if broker else None),
    )


# --------------------------------------------------------------------------- checks
def _may_open(n: Node, user_groups: frozenset[str]) -> bool:
    return n.other_rw or (n.group_rw and n.group in user_groups)


def _access(name: str, nodes: Sequence[Node], f: DoctorFacts, group: str) -> CheckResult:
    present = [n for n in nodes if n.exists]
    if not present:
        return CheckResult(name, Level.SKIP, "no device node to check")
    if not f.user_exists:
        return CheckResult(
            name,
            Level.FAIL,
            f"user {f.user!r} does not exist",
            "set componentUser to the user Greengrass runs components as (default ggc_user)",
        )
    denied = [n for n in present if not _may_open(n, f.user_groups)]
    if not denied:
        return CheckResult(name, Level.OK, f"{f.user} may open {len(present)} node(s)")
    groups = sorted({n.group or group for n in denied})
    return CheckResult(
        name,
        Level.FAIL,
        f"{f.user} cannot open {', '.join(n.path for n in denied)} "
        f"(group {', '.join(groups)}, {f.user} is in: {', '.join(sorted(f.user_groups)) or '-'})",
        f"sudo usermod -aG {','.join(groups)} {f.user} && {RESTART}",
    )


def check_i2c(f: DoctorFacts) -> CheckResult:
    if not any(n.exists for n in f.i2c_nodes):
        return CheckResult(
            "i2c bus",
            Level.FAIL,
            "no /dev/i2c-* device node",
            "enable I2C: sudo raspi-config nonint do_i2c 0 (or dtparam=i2c_arm=on in "
            "/boot/firmware/config.txt), then reboot",
        )
    return CheckResult("i2c bus", Level.OK, ", ".join(n.path for n in f.i2c_nodes if n.exists))


def check_i2c_access(f: DoctorFacts) -> CheckResult:
    return _access("i2c access", f.i2c_nodes, f, "i2c")


def check_serial(f: DoctorFacts) -> CheckResult:
    missing = [n.path for n in f.serial_nodes if not n.exists]
    if f.serial_configured and missing:
        return CheckResult(
            "serial ports",
            Level.FAIL,
            f"missing: {', '.join(missing)}",
            "check the reader's cable and power; ls -l /dev/serial/by-id; for the Pi's own "
            "UART: enable_uart=1 and sudo raspi-config nonint do_serial_cons 1 (console off)",
        )
    present = [n.path for n in f.serial_nodes if n.exists]
    if not present:
        return CheckResult(
            "serial ports",
            Level.WARN,
            "no serial device found",
            "plug in the RFID reader (USB) or enable the UART; list them in serialPorts",
        )
    return CheckResult("serial ports", Level.OK, ", ".join(present))


def check_serial_access(f: DoctorFacts) -> CheckResult:
    return _access("serial access", f.serial_nodes, f, "dialout")


def check_disk(f: DoctorFacts) -> CheckResult:
    floor = (f.log_stats or {}).get("free_floor_bytes")
    if f.disk_free_bytes is None:
        return CheckResult(
            "disk space",
            Level.WARN,
            "free space unknown",
            "check that the log's folder exists (logPath)",
        )
    detail = f"{_mib(f.disk_free_bytes)} free"
    if floor:
        detail += f", floor {_mib(floor)}"
        remedy = (
            "free space (sudo journalctl --vacuum-size=100M; remove old exports and "
            "logs), or lower logFreeFloorBytes"
        )
        if f.disk_free_bytes <= floor:
            return CheckResult(
                "disk space",
                Level.FAIL,
                detail + ": the log may not grow, it evicts to make room",
                remedy,
            )
        if f.disk_free_bytes < 2 * floor:
            return CheckResult("disk space", Level.WARN, detail + ": close to the floor", remedy)
    return CheckResult("disk space", Level.OK, detail)


def check_log(f: DoctorFacts) -> CheckResult:
    if f.log_stats is None:
        return CheckResult(
            "log budget",
            Level.WARN,
            f"log not readable: {f.log_problem}",
            "start the components, or point --log at the log file",
        )
    s = f.log_stats
    used, budget = s["used_bytes"], s["budget_bytes"]
    detail = f"{_mib(used)} of {_mib(budget)} ({100 * used / budget:.0f}%)"
    refused = refused_records(s)
    if refused and log_out_of_room(s):
        return CheckResult(
            "log budget",
            Level.FAIL,
            detail + f"; {refused} records refused, still full",
            "restore the uplink so the backlog drains, export it (floorline buffer export) "
            "and raise logBudgetBytes, or free disk space",
        )
    if refused:
        return CheckResult(
            "log budget",
            Level.WARN,
            detail + f"; {refused} records were refused earlier (room is back)",
            "see floorline status: drops",
        )
    if used >= 0.8 * budget:
        return CheckResult(
            "log budget",
            Level.WARN,
            detail + ": oldest raw records go first",
            "restore the uplink, or export the backlog: floorline buffer export",
        )
    return CheckResult("log budget", Level.OK, detail)


def check_clock(f: DoctorFacts) -> CheckResult:
    if f.ntp_synced is True:
        return CheckResult("clock sync", Level.OK, "NTP synchronised (timedatectl)")
    if f.ntp_synced is False:
        return CheckResult(
            "clock sync",
            Level.FAIL,
            "not synchronised: records are stamped clock_synced=false",
            "sudo timedatectl set-ntp true; allow UDP 123 to the NTP server (or set NTP= in "
            "/etc/systemd/timesyncd.conf for the site's server)",
        )
    return CheckResult(
        "clock sync",
        Level.WARN,
        "timedatectl not available: cannot confirm",
        "install systemd-timesyncd (or chrony) so sync can be checked",
    )


def check_greengrass(f: DoctorFacts) -> CheckResult:
    if not f.in_component and not f.greengrass_root_exists:
        return CheckResult(
            "greengrass",
            Level.FAIL,
            f"no nucleus at {f.greengrass_root}",
            "install the Greengrass nucleus (operator guide), or set greengrassRoot",
        )
    if f.socket_problem is not None:
        return CheckResult(
            "greengrass",
            Level.FAIL,
            f"nucleus IPC not reachable: {f.socket_problem}",
            f"sudo systemctl status greengrass; {RESTART}; see "
            f"{f.greengrass_root}/logs/greengrass.log (run doctor with sudo to reach the socket)",
        )
    where = "component environment" if f.in_component else "technician shell"
    return CheckResult(
        "greengrass", Level.OK, f"IPC socket {f.socket_path} answers ({f.socket_found_as}; {where})"
    )


def check_broker(f: DoctorFacts) -> CheckResult:
    if f.broker is None:
        return CheckResult(
            "broker",
            Level.SKIP,
            "brokerHost not configured",
            "set brokerHost to the IoT data endpoint (aws iot describe-endpoint "
            "--endpoint-type iot:Data-ATS)",
        )
    host, port = f.broker
    if f.broker_problem is not None:
        return CheckResult(
            "broker",
            Level.FAIL,
            f"cannot connect: {f.broker_problem}",
            f"check DNS (getent hosts {host}) and that the firewall lets TCP {port} out",
        )
    return CheckResult("broker", Level.OK, f"TCP {host}:{port} connects")


CHECKS: tuple[Callable[[DoctorFacts], CheckResult], ...] = (
    check_i2c,
    check_i2c_access,
    check_serial,
    check_serial_access,
    check_disk,
    check_log,
    check_clock,
    check_greengrass,
    check_broker,
)


def run_checks(f: DoctorFacts) -> list[CheckResult]:
    return [check(f) for check in CHECKS]


def _mib(n: int) -> str:
    return f"{n / (1 << 20):.1f} MiB"
