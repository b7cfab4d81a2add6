"""`floorline`: the technician's console on the device. Works with no cloud connection.

Exit codes (see components/console/levels.py): 0 OK, 1 warnings, 2 failures, 3 could not
run, 64 wrong usage.
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import signal
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from rich.console import Console
from rich.markup import escape as rich_escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from components.console import config as console_config
from components.console import doctor, export, hardware, page, query, serve, status, verify
from components.console.levels import (
    EXIT_CANNOT_RUN,
    EXIT_FAIL,
    EXIT_OK,
    EXIT_USAGE,
    EXIT_WARN,
    Level,
    exit_code,
    overall,
)
from components.console.logview import LogUnavailable, open_log
from components.console.term import render
from components.console.views import (
    Row,
    Table,
    doctor_table,
    fmt_reading,
    fmt_wall,
    stats_tables,
    status_tables,
    verify_tables,
)
from components.core import component_state, ipc
from components.core.clock import Clock, SystemClock
from components.core.config import Config, ConfigError, ConfigHolder
from components.core.envelope import CLASSES
from components.core.ipc import thing_name
from components.core.stopping import Stop
from components.core.tls import TlsConfigError
from components.gpio import status as led
from components.rfid.config import MODELS as RFID_MODELS
from components.rfid.config import VARIANTS as RFID_VARIANTS

log = logging.getLogger("floorline.console")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    common.add_argument("--config", default=argparse.SUPPRESS,
                        help="console configuration (JSON); default "
                             f"${console_config.CONFIG_FILE_ENV} or "
                             f"{console_config.DEFAULT_CONFIG_FILE}")
    common.add_argument("--log", default=argparse.SUPPRESS, help="the log file (logPath)")
    common.add_argument("--device", default=argparse.SUPPRESS,
                        help="thing name (default $AWS_IOT_THING_NAME)")
    as_json = _Parser(add_help=False)
    as_json.add_argument("--json", action="store_true", help="print JSON instead of tables")

    p = _Parser(prog="floorline", parents=[common],
                description="floorline on-device console (no cloud needed). "
                            "Exit codes: 0 OK, 1 warnings, 2 failures, 3 could not run.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    sub.add_parser("status", parents=[common, as_json], help="one screen: is all well?")

    buf = sub.add_parser("buffer", help="the durable log").add_subparsers(
        dest="action", required=True, parser_class=_Parser)
    buf.add_parser("stats", parents=[common, as_json], help="records, backlog, counters")
    buf.add_parser("verify", parents=[common, as_json],
                   help="integrity check and sequence continuity per stream")
    ex = buf.add_parser("export", parents=[common],
                        help="copy the backlog to a folder (USB stick) with a manifest")
    ex.add_argument("--to", required=True, help="destination folder")
    ex.add_argument("--format", choices=export.FORMATS, default="parquet")
    ex.add_argument("--all", action="store_true",
                    help="every record held, not only those the uplink has not acknowledged")

    ledp = sub.add_parser("led", help="the status LED").add_subparsers(
        dest="action", required=True, parser_class=_Parser)
    lt = ledp.add_parser("test", parents=[common], help="show each LED pattern in turn")
    lt.add_argument("--pin", default=None, help="gpiozero pin (default ledPin)")
    lt.add_argument("--seconds-each", type=float, default=3.0,
                    help="how long each pattern shows (default 3 s)")

    sens = sub.add_parser("sensors", help="the I2C sensors").add_subparsers(
        dest="action", required=True, parser_class=_Parser)
    bus_arg = _Parser(add_help=False)
    bus_arg.add_argument("--bus", default=None,
                         help="I2C adapter number, or 'sim' (default 1; $FLOORLINE_I2C_BUS wins)")
    scan = sens.add_parser(
        "scan", parents=[common, bus_arg],
        help="sweep the bus, identify chips, read each once (initialising it with the "
             "drivers' default options: stop the sensors component first if it is running)")
    scan.add_argument("--identify-only", action="store_true",
                      help="only sweep and identify (safe while the sensors component runs)")
    watch = sens.add_parser("watch", parents=[common, bus_arg], help="live values")
    watch.add_argument("--interval", type=float, default=1.0, help="seconds between readings")
    watch.add_argument("--count", type=int, default=0, help="stop after N rounds (0: Ctrl-C)")

    rfid = sub.add_parser("rfid", help="the serial RFID readers").add_subparsers(
        dest="action", required=True, parser_class=_Parser)
    rt = rfid.add_parser("test", parents=[common],
                         help="frames as they arrive: checksum good or bad, decoded tags")
    rt.add_argument("--port", required=True,
                    help="serial port or URL (/dev/serial0, /dev/ttyUSB0, socket://host:port)")
    rt.add_argument("--model", choices=sorted(RFID_MODELS), default="rdm6300")
    rt.add_argument("--variant", choices=sorted(RFID_VARIANTS), default="m100",
                    help="UHF reader variant")
    rt.add_argument("--baud", type=int, default=None, help="default: the model's")
    rt.add_argument("--seconds", type=float, default=30.0, help="how long to listen")
    rt.add_argument("--count", type=int, default=0,
                    help="stop after N good reads (0: no limit)")

    sub.add_parser("doctor", parents=[common, as_json],
                   help="check the machine: buses, groups, disk, clock, Greengrass, broker")

    serve = sub.add_parser("serve", parents=[common],
                           help="the LAN status page: /status (HTML) and /status.json")
    serve.add_argument("--bind", default=None, help="address (default bindAddress)")
    serve.add_argument("--port", type=int, default=None, help="port (default port)")
    sub.add_parser("token", help="make a status page token and its statusTokenSha256")
    query.add_commands(sub, [common, as_json])
    return p


def _config(args: argparse.Namespace) -> Config:
    overrides = {"logPath": getattr(args, "log", None)}
    return console_config.load(getattr(args, "config", None), overrides)


def _device(args: argparse.Namespace) -> str:
    return getattr(args, "device", None) or thing_name()


def main(argv: Sequence[str] | None = None, *, clock: Clock | None = None,
         console: Console | None = None, sleep: Callable[[float], None] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(name)s %(message)s")
    args = _parser().parse_args(argv)
    out = console or Console()
    clock = clock or SystemClock()
    args.sleep = sleep or time.sleep  # injected: tests drive virtual time
    try:
        if args.command == "token":
            return _token(out)
        cfg = _config(args)
        handler = {
            ("status", None): _status,
            ("buffer", "stats"): _buffer_stats,
            ("buffer", "verify"): _buffer_verify,
            ("buffer", "export"): _buffer_export,
            ("led", "test"): _led_test,
            ("doctor", None): _doctor,
            ("sensors", "scan"): _sensors_scan,
            ("sensors", "watch"): _sensors_watch,
            ("rfid", "test"): _rfid_test,
            ("serve", None): _serve,
            ("tables", None): lambda a, c, _clock, o: query.tables_command(a, c.logPath, o),
            ("sql", None): lambda a, c, _clock, o: query.sql_command(a, c.logPath, o),
        }[(args.command, getattr(args, "action", None))]
        return handler(args, cfg, clock, out)
    except (ConfigError, console_config.ConfigFileError) as exc:
        out.print(f"[bold red]configuration:[/] {exc}")
        return EXIT_CANNOT_RUN
    except LogUnavailable as exc:
        out.print(f"[bold red]FAIL[/] {exc}\n  remedy: {exc.remedy}")
        return EXIT_CANNOT_RUN


# --------------------------------------------------------------------------- commands
def _print_json(out: Console, data: Any) -> None:
    out.print_json(json.dumps(data, default=str))


def _status(args: argparse.Namespace, cfg: Config, clock: Clock, out: Console) -> int:
    report = status.build_status(status.gather(cfg, clock, _device(args)), cfg)
    level = Level[report["level"]]
    if args.json:
        _print_json(out, report)
    else:
        render(out, status_tables(report),
               f"floorline {report['device']} (site {report['site']})", level)
    return exit_code([level])


def _buffer_stats(args: argparse.Namespace, cfg: Config, clock: Clock, out: Console) -> int:
    lg = open_log(cfg, clock, _device(args))
    try:
        stats, streams = lg.stats(), lg.streams()
    finally:
        lg.close()
    if args.json:
        _print_json(out, {"stats": stats, "streams": streams})
    else:
        render(out, stats_tables(stats, streams), f"log {stats['path']}")
    return EXIT_OK


def _buffer_verify(args: argparse.Namespace, cfg: Config, clock: Clock, out: Console) -> int:
    from components.console.logview import check_log_file

    check_log_file(cfg.logPath)
    with out.status("checking integrity and sequence numbers (read-only)..."):
        report = verify.run(cfg.logPath)
    if args.json:
        _print_json(out, report.to_dict())
    else:
        render(out, verify_tables(report), f"buffer verify {cfg.logPath}", report.level)
    return exit_code([report.level])


def _backlog_estimate(stats: dict[str, Any], prefix: str, everything: bool) -> int:
    """Records the export will hold (for the progress bar): per class, the backlog of the
    furthest-behind uplink consumer, or everything held when no uplink consumer takes it."""
    total = 0
    for cls in CLASSES:
        held = stats["classes"][cls]["records"]
        behind = [per[cls]["records"] for name, per in stats["backlog"].items()
                  if name.startswith(prefix) and cls in per]
        total += held if everything or not behind else max(behind)
    return total


def _buffer_export(args: argparse.Namespace, cfg: Config, clock: Clock, out: Console) -> int:
    device = _device(args)
    lg = open_log(cfg, clock, device)
    try:
        prefix = cfg.uplinkConsumerPrefix
        estimate = _backlog_estimate(lg.stats(), prefix, args.all)
        skip = {} if args.all else export.sent_upto(cfg.logPath, prefix)
        columns = (TextColumn("exporting"), BarColumn(), MofNCompleteColumn(),
                   TimeRemainingColumn())
        # The manifest names the site, so an import under another site is refused.
        unassigned = console_config.SPEC.keys["siteId"].default
        site = None if cfg.siteId == unassigned else cfg.siteId
        with Progress(*columns, console=out, transient=False) as bar:
            task = bar.add_task("export", total=max(estimate, 1))

            def progress(done: int) -> None:
                bar.update(task, completed=done, total=max(estimate, done))

            result = export.write_export(
                lg, args.to, fmt=args.format, device=device,
                now_wall_ms=clock.wall_ms(), scope="all" if args.all else "backlog",
                site=site, skip_upto=skip, progress=progress,
            )
            bar.update(task, completed=result.manifest["records"],
                       total=max(result.manifest["records"], 1))
    except export.ExportError as exc:
        out.print(f"[bold red]FAIL[/] {exc}")
        return EXIT_CANNOT_RUN
    finally:
        lg.close()
    m = result.manifest
    out.print(f"[green]OK[/] {m['records']} records from {len(m['streams'])} streams in "
              f"{len(m['files'])} files -> {result.folder}")
    out.print(f"import it with: python -m cloud.lake import {shlex.quote(str(result.folder))} "
              f"--site {shlex.quote(cfg.siteId)}", soft_wrap=True, highlight=False, markup=False)
    return EXIT_OK


def _led_test(args: argparse.Namespace, cfg: Config, clock: Clock, out: Console) -> int:
    from gpiozero import LED
    from gpiozero.exc import GPIOZeroError, PinFactoryFallback

    pin = args.pin or cfg.ledPin
    seconds = args.seconds_each
    # gpiozero warns once per pin library it cannot use before it gives up: off a Pi that
    # is four warnings ahead of the one message that matters. Keep them for the FAIL line.
    with warnings.catch_warnings(record=True) as fallbacks:
        warnings.simplefilter("always", PinFactoryFallback)
        try:
            device = LED(pin)
        except (GPIOZeroError, OSError) as exc:
            tried = "; ".join(str(w.message).removeprefix("Falling back from ")
                              for w in fallbacks if issubclass(w.category, PinFactoryFallback))
            out.print(f"[bold red]FAIL[/] cannot drive LED on {pin}: {exc}"
                      + (f"\n  pin libraries tried: {tried}" if tried else "")
                      + "\n  remedy: on a Pi, install python3-lgpio (Raspberry Pi OS has it) "
                        "and check ledPin; off a Pi, GPIOZERO_PIN_FACTORY=mock")
            return EXIT_CANNOT_RUN
    for w in fallbacks:
        log.info("event=pin_factory_fallback reason=%r", str(w.message))
    try:
        for state in (led.ONLINE, led.OFFLINE_BUFFERING, led.FAULT, led.OFF):
            out.print(f"LED {pin}: [bold]{state}[/] - {led.MEANINGS[state]}")
            led.show(device, state)
            time.sleep(seconds)
    finally:
        device.off()
        device.close()
    out.print("[green]OK[/] all patterns shown; the LED is off")
    return EXIT_OK


def _doctor(args: argparse.Namespace, cfg: Config, clock: Clock, out: Console) -> int:
    stats, problem = None, None
    try:
        lg = open_log(cfg, clock, _device(args))
        try:
            stats = lg.stats()
        finally:
            lg.close()
    except LogUnavailable as exc:
        problem = str(exc)
    with out.status("checking..."):
        results = doctor.run_checks(doctor.gather(cfg, stats, problem))
    if args.json:
        _print_json(out, [r.to_dict() for r in results])
    else:
        table = doctor_table(results)
        render(out, [table])
    return exit_code(r.level for r in results)


def _serve(args: argparse.Namespace, cfg: Config, clock: Clock, out: Console) -> int:
    """The component's Run command: the page, on the configuration in force (from the nucleus
    under Greengrass, where updates apply without a restart; else from the file)."""
    logging.getLogger().setLevel(logging.INFO)
    gg = ipc.connect() if getattr(args, "config", None) is None else None
    holder = ConfigHolder(console_config.SPEC, dict(cfg))
    if gg is not None:
        holder = ipc.load_config(console_config.SPEC, gg)
        ipc.follow_updates(holder, gg)
        gg.report_running()
    stop = Stop().on_signals(signal.SIGTERM)  # how the nucleus stops components
    device = _device(args)
    state = component_state.Reporter(holder.current.logPath, "Console", clock)
    state.running()
    log.info("event=started component=console device=%s nucleus=%s", device, gg is not None)
    try:
        code = serve.run(
            holder, device, clock, stop,
            bind=args.bind or holder.current.bindAddress,
            port=holder.current.port if args.port is None else args.port,
        )
        state.stopped()
        return code
    except KeyboardInterrupt:
        log.info("event=status_page_stopped reason=interrupt")
        state.stopped("interrupted")
        return EXIT_OK
    except (OSError, TlsConfigError) as exc:  # ssl.SSLError is an OSError
        out.print(f"[bold red]FAIL[/] cannot serve: {exc}\n  remedy: set bindAddress/port "
                  "to a free address and port; tlsCertPath and tlsKeyPath to a readable "
                  "certificate and its key (or both empty)")
        state.failed(f"cannot serve: {exc}")
        return EXIT_CANNOT_RUN
    finally:
        if gg is not None:
            gg.close()


def _open_bus(args: argparse.Namespace, clock: Clock, out: Console) -> Any:
    from components.core import buses

    try:
        return buses.open_i2c(args.bus, clock=clock)
    except (OSError, buses.BusConfigError) as exc:
        out.print(f"[bold red]FAIL[/] cannot open the I2C bus: {exc}\n  remedy: enable I2C "
                  "(floorline doctor), or --bus N for another adapter")
        return None


def _reading_text(reading: dict[str, Any] | None) -> str:
    if not reading:
        return "-"
    return "  ".join(fmt_reading(k, v) for k, v in reading.items())


def _sensors_scan(args: argparse.Namespace, cfg: Config, clock: Clock, out: Console) -> int:
    bus = _open_bus(args, clock, out)
    if bus is None:
        return EXIT_CANNOT_RUN
    with out.status("scanning 0x08-0x77..."):
        rows = hardware.scan_and_read(bus, args.sleep, read=not args.identify_only)
    table = Table("I2C scan", ["address", "chip", "id", "stream", "reading"],
                  text_columns=frozenset({2, 4}))
    for r in rows:
        level = Level.FAIL if r.error else (
            Level.OK if r.reading is not None or (args.identify_only and r.stream) else
            Level.WARN)
        table.rows.append(Row([f"0x{r.address:02x}", r.chip, r.detail or "-", r.stream or "-",
                               r.error or _reading_text(r.reading)], level))
    if not rows:
        table.rows.append(Row(["-", "no chip answered", "-", "-",
                               "check wiring and power; floorline doctor"], Level.FAIL))
    table.level = overall(r.level for r in table.rows if r.level is not None)
    render(out, [table])
    return exit_code([table.level])


def _sensors_watch(args: argparse.Namespace, cfg: Config, clock: Clock, out: Console) -> int:
    bus = _open_bus(args, clock, out)
    if bus is None:
        return EXIT_CANNOT_RUN
    rows = [r for r in hardware.scan_and_read(bus, args.sleep) if r.driver is not None]
    if not rows:
        out.print("[bold red]FAIL[/] no known chip on the bus (floorline sensors scan)")
        return EXIT_FAIL
    rounds = 0
    try:
        while True:
            for r in hardware.read_all(rows):
                value = (f"[red]{r.error}[/]" if r.error else
                         rich_escape(_reading_text(r.reading)))
                out.print(f"{fmt_wall(clock.wall_ms())}  {r.stream}  {value}")
            rounds += 1
            if args.count and rounds >= args.count:
                break
            args.sleep(args.interval)
    except KeyboardInterrupt:
        log.info("event=watch_stopped rounds=%d", rounds)
    return EXIT_OK


def _rfid_test(args: argparse.Namespace, cfg: Config, clock: Clock, out: Console) -> int:
    from components.core import buses

    probe = hardware.ReaderProbe(args.model, args.variant)
    baud = args.baud or RFID_MODELS[args.model][1]
    try:
        port = buses.open_serial(args.port, baud, timeout_s=0.2)
    except (OSError, ValueError) as exc:  # SerialException is an OSError
        out.print(f"[bold red]FAIL[/] cannot open {args.port}: {exc}\n  remedy: check the "
                  "port name (ls /dev/serial/by-id) and that this user is in 'dialout'")
        return EXIT_CANNOT_RUN
    out.print(f"listening on {args.port} ({args.model}, {baud} baud) for {args.seconds:g} s...")
    deadline = clock.monotonic_ns() + int(args.seconds * 1e9)
    tags = 0  # good reads (a tag held at the antenna is read many times)
    distinct: set[str] = set()
    next_poll = 0
    try:
        while clock.monotonic_ns() < deadline and not (args.count and tags >= args.count):
            if probe.needs_polling and clock.monotonic_ns() >= next_poll:
                port.write(probe.poll_command())
                next_poll = clock.monotonic_ns() + 200_000_000
            data = port.read(256)
            for ev in probe.feed(data) if data else ():
                if ev.tag is not None:
                    tags += 1
                    distinct.add(ev.tag.tag_id)
                    rssi = f"  rssi {ev.tag.rssi_dbm} dBm" if ev.tag.rssi_dbm is not None else ""
                    out.print(f"[green]GOOD[/] tag {ev.tag.tag_id}  checksum ok  "
                              f"frame {ev.tag.raw.hex()}{rssi}")
                else:
                    out.print(f"[yellow]BAD[/]  {ev.count} x {ev.reject}")
    except KeyboardInterrupt:
        log.info("event=rfid_test_stopped tags=%d", tags)
    finally:
        port.close()
    stats = probe.decoder.stats.as_dict()
    shown = ", ".join(sorted(distinct)[:5]) + (", ..." if len(distinct) > 5 else "")
    out.print(f"{len(distinct)} distinct tag{'s' if len(distinct) != 1 else ''}"
              f"{f' ({shown})' if distinct else ''} in {tags} good reads, {probe.frames} good "
              f"frames, rejects {stats['rejects'] or 'none'}, {stats['bytes_in']} bytes read",
              highlight=False)
    if tags == 0:
        out.print("[bold red]FAIL[/] no tag decoded\n  remedy: hold a tag at the antenna; "
                  "check --model and --baud, the wiring (reader TX to Pi RX) and power")
        return EXIT_FAIL
    return EXIT_WARN if probe.rejects else EXIT_OK


def _token(out: Console) -> int:
    token, digest = page.new_token()
    out.print(f"token (give to people who may see the page): [bold]{token}[/]")
    out.print(f'configuration: "statusTokenSha256": "{digest}"')
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
