import dataclasses
import json
import socket

import pytest

from components.console import config as console_config
from components.console import doctor
from components.console.__main__ import main
from components.console.doctor import DoctorFacts, Node
from components.console.levels import Level

MIB = 1 << 20


def healthy(**changes) -> DoctorFacts:
    facts = DoctorFacts(
        user="ggc_user",
        user_exists=True,
        user_groups=frozenset({"ggc_group", "i2c", "dialout"}),
        i2c_nodes=[Node("/dev/i2c-1", True, "i2c", group_rw=True)],
        serial_nodes=[Node("/dev/ttyUSB0", True, "dialout", group_rw=True)],
        serial_configured=True,
        disk_free_bytes=4000 * MIB,
        log_stats={
            "used_bytes": 10 * MIB,
            "budget_bytes": 256 * MIB,
            "free_disk_bytes": 4000 * MIB,
            "free_floor_bytes": 64 * MIB,
            "counters": {},
        },
        log_problem=None,
        ntp_synced=True,
        greengrass_root="/greengrass/v2",
        greengrass_root_exists=True,
        in_component=False,
        socket_path="/greengrass/v2/ipc.socket",
        socket_problem=None,
        broker=("abc-ats.iot.eu-west-1.amazonaws.com", 8883),
        broker_problem=None,
    )
    return dataclasses.replace(facts, **changes)


def by_name(facts):
    return {r.name: r for r in doctor.run_checks(facts)}


def test_a_ready_machine_passes_every_check():
    results = doctor.run_checks(healthy())
    assert [r.level for r in results] == [Level.OK] * len(results)


@pytest.mark.parametrize(
    ("changes", "check", "level", "remedy"),
    [
        ({"i2c_nodes": []}, "i2c bus", Level.FAIL, "raspi-config nonint do_i2c 0"),
        (
            {"user_groups": frozenset({"dialout"})},
            "i2c access",
            Level.FAIL,
            "sudo usermod -aG i2c ggc_user",
        ),
        (
            {"user_groups": frozenset({"i2c"})},
            "serial access",
            Level.FAIL,
            "sudo usermod -aG dialout ggc_user",
        ),
        ({"user_exists": False}, "i2c access", Level.FAIL, "componentUser"),
        ({"serial_nodes": [Node("/dev/ttyUSB0", False)]}, "serial ports", Level.FAIL, "by-id"),
        ({"serial_nodes": [], "serial_configured": False}, "serial ports", Level.WARN, "RFID"),
        ({"disk_free_bytes": 60 * MIB}, "disk space", Level.FAIL, "journalctl --vacuum"),
        ({"disk_free_bytes": 100 * MIB}, "disk space", Level.WARN, "logFreeFloorBytes"),
        ({"log_stats": None, "log_problem": "no log"}, "log budget", Level.WARN, "--log"),
        ({"ntp_synced": False}, "clock sync", Level.FAIL, "timedatectl set-ntp true"),
        ({"ntp_synced": None}, "clock sync", Level.WARN, "timesyncd"),
        (
            {"greengrass_root_exists": False, "socket_problem": "missing"},
            "greengrass",
            Level.FAIL,
            "install the Greengrass nucleus",
        ),
        (
            {"socket_problem": "connection refused"},
            "greengrass",
            Level.FAIL,
            "systemctl restart greengrass",
        ),
        ({"broker": None}, "broker", Level.SKIP, "describe-endpoint"),
        ({"broker_problem": "timed out"}, "broker", Level.FAIL, "TCP 8883"),
    ],
)
def test_each_failure_names_its_remedy(changes, check, level, remedy):
    result = by_name(healthy(**changes))[check]
    assert result.level is level
    assert remedy in result.remedy


def test_world_writable_node_needs_no_group():
    facts = healthy(
        user_groups=frozenset(), i2c_nodes=[Node("/dev/i2c-1", True, "root", other_rw=True)]
    )
    assert by_name(facts)["i2c access"].level is Level.OK


def test_log_budget_levels():
    near_full = {
        "used_bytes": 230 * MIB,
        "budget_bytes": 256 * MIB,
        "free_disk_bytes": 4000 * MIB,
        "free_floor_bytes": 64 * MIB,
        "counters": {},
    }
    assert by_name(healthy(log_stats=near_full))["log budget"].level is Level.WARN
    refusing = {**near_full, "used_bytes": 255 * MIB, "counters": {"rejected_full.alert": 4}}
    r = by_name(healthy(log_stats=refusing))["log budget"]
    assert r.level is Level.FAIL and "buffer export" in r.remedy
    recovered = {**refusing, "used_bytes": 20 * MIB}
    assert by_name(healthy(log_stats=recovered))["log budget"].level is Level.WARN


@pytest.mark.slow
def test_gathered_probes_reach_real_sockets(tmp_path):
    """The network probes against real listeners on this machine: a Unix socket standing in
    for the nucleus, a TCP port standing in for the broker, then both closed."""
    sock_path = tmp_path / "ipc.socket"
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix.bind(str(sock_path))
    unix.listen(1)
    tcp = socket.socket()
    tcp.bind(("127.0.0.1", 0))
    tcp.listen(1)
    cfg = console_config.load(
        None,
        {
            "greengrassRoot": str(tmp_path),
            "brokerHost": "127.0.0.1",
            "brokerPort": tcp.getsockname()[1],
            "logPath": str(tmp_path / "log.db"),
        },
    )
    try:
        up = by_name(doctor.gather(cfg, None, "no log", timeout_s=10))
    finally:
        unix.close()
        tcp.close()
    assert up["greengrass"].level is Level.OK and up["broker"].level is Level.OK
    down = by_name(doctor.gather(cfg, None, "no log"))
    assert down["greengrass"].level is Level.FAIL and down["broker"].level is Level.FAIL


@pytest.mark.slow
def test_doctor_command_json(site, captured):
    rc = main(
        ["doctor", "--json", "--config", str(site.config_file)],
        clock=site.clock,
        console=captured.console,
    )
    results = json.loads(captured.text)
    names = [r["name"] for r in results]
    assert names == [c(healthy()).name for c in doctor.CHECKS]
    assert all(r["level"] in Level.__members__ for r in results)
    # this test machine has no nucleus at the configured root: that alone makes it a FAIL
    greengrass = next(r for r in results if r["name"] == "greengrass")
    assert greengrass["level"] == "FAIL" and rc == 2
