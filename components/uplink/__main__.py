"""The uplink component: the durable log to IoT Core and Kinesis.

Run by Greengrass as `python -m components.uplink` (see recipes/). Threads: the IoT Core sender,
the Kinesis sender, the shadow reporter; commands arrive on the IPC subscription thread.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from typing import Any

from components.core import component_state, ipc, topics
from components.core.clock import host_clock
from components.core.config import ConfigError
from components.core.log.config import open_log
from components.core.stopping import Stop
from components.uplink import commands, shadow
from components.uplink.config import SPEC
from components.uplink.senders import (
    IOT_CLASSES,
    IOT_CONSUMER,
    KINESIS_CONSUMER,
    READ_BUDGET_BYTES,
    IotCoreSender,
    KinesisSender,
)

log = logging.getLogger("floorline.uplink")
# An idle poll is one PRAGMA data_version (a sender reads only after another process commits
# or when what it holds falls due), so it can be frequent: a new alert waits at most this long.
IDLE_S = 0.05


class Uplink:
    def __init__(self, gg: ipc.Greengrass, holder: Any, thing: str) -> None:
        cfg = holder.current
        self.gg = gg
        self.holder = holder
        self.thing = thing
        self.clock = host_clock()
        self.stop = Stop()
        self.log = open_log(cfg, thing)
        iot_classes = IOT_CLASSES if cfg.useKinesis else (*IOT_CLASSES, "raw")
        self.log.register_consumer(IOT_CONSUMER, iot_classes)
        self.iot = IotCoreSender(
            self.log,
            gg.publish_iot,
            holder,
            thing=thing,
            clock=self.clock,
            sleep=self.stop.wait,
            read_budget_bytes=READ_BUDGET_BYTES // (2 if cfg.useKinesis else 1),
        )
        self.kinesis: KinesisSender | None = None
        if cfg.useKinesis:
            self.log.register_consumer(KINESIS_CONSUMER, ("raw",))
            self.kinesis = KinesisSender(
                self.log, _stream_manager_client, holder, clock=self.clock, sleep=self.stop.wait
            )
        self.shadow = shadow.ShadowSync(gg, holder, thing)

    # --------------------------------------------------------------- loops
    def _loop(self, sender: Any) -> None:
        while not self.stop.is_set():
            try:
                if sender.run_once() == 0:
                    self.stop.wait(IDLE_S)
            except Exception:  # a bug must not silently stop delivery: log, count, go on
                log.exception("event=sender_crashed consumer=%s", sender.consumer)
                sender.errors["internal"] += 1
                self.stop.wait(1.0)

    def _shadow_loop(self) -> None:
        versions = {"floorline": _version()}
        while not self.stop.is_set():
            doc = shadow.reported_state(
                self.log.stats(),
                now_wall_ms=self.clock.wall_ms(),
                uplink={
                    "iot": self.iot.stats(),
                    "kinesis": self.kinesis.stats() if self.kinesis else None,
                },
                versions=versions,
                config_error=self.shadow.config_error,
            )
            try:
                self.shadow.report(doc)
            except Exception as exc:  # a full spool, offline QoS 0: the next report follows
                log.warning("event=shadow_update_failed error=%r", exc)
            self.stop.wait(self.holder.current.shadowIntervalSeconds)

    # --------------------------------------------------------------- commands
    def on_command(self, _topic: str, payload: bytes) -> None:
        site = self.holder.current.siteId
        try:
            cmd = commands.parse(payload)
        except commands.CommandError as exc:
            log.warning("event=command_rejected reason=%r", str(exc))
            self._reply(site, commands.reply(exc.command_id, exc.name, str(exc)))
            return
        error = None
        try:
            if cmd.name == "flush":
                self.iot.flush_requested.set()
            elif cmd.name == "identify":
                self.gg.publish_local(topics.LOCAL_IDENTIFY, cmd.args).result()
            elif cmd.name == "set-rate":
                self.gg.publish_local(topics.LOCAL_SET_RATE, cmd.args).result()
        except Exception as exc:
            error = f"{cmd.name} failed: {exc}"
        log.info("event=command id=%s command=%s ok=%s", cmd.id, cmd.name, error is None)
        self._reply(site, commands.reply(cmd.id, cmd.name, error))

    def _reply(self, site: str, body: bytes) -> None:
        try:
            self.gg.publish_iot(topics.reply_topic(site, self.thing), body)
        except Exception as exc:
            log.warning("event=reply_failed error=%r", exc)

    def run(self) -> None:
        site = self.holder.current.siteId
        self.gg.subscribe_iot(topics.command_topic(site, self.thing), self.on_command)
        self.shadow.start()
        ipc.follow_updates(self.holder, self.gg, self.iot.apply_config)
        threads = [threading.Thread(target=self._loop, args=(self.iot,), name="iot")]
        if self.kinesis:
            threads.append(
                threading.Thread(target=self._loop, args=(self.kinesis,), name="kinesis")
            )
        threads.append(threading.Thread(target=self._shadow_loop, name="shadow"))
        for t in threads:
            t.daemon = True
            t.start()
        self.gg.report_running()
        log.info(
            "event=started thing=%s site=%s kinesis=%s", self.thing, site, self.kinesis is not None
        )
        self.stop.wait()
        for t in threads:
            t.join(timeout=5)
        self.log.close()


def _stream_manager_client() -> Any:
    # The SDK runs on asyncio, whose import loads OpenSSL (libssl, libcrypto: ~4 MiB resident)
    # for TLS that the plain local connection to Stream Manager never uses. Importing it with
    # `ssl` marked absent (asyncio supports that) keeps the library out; the mark is removed
    # afterwards so a later `import ssl` still works.
    hidden = "ssl" not in sys.modules
    if hidden:
        sys.modules["ssl"] = None  # type: ignore[assignment]
    try:
        from stream_manager import StreamManagerClient
    finally:
        if hidden:
            del sys.modules["ssl"]
    return StreamManagerClient()


def _version(path: list[str] | None = None) -> str:
    """floorline's installed version from its dist-info folder name (PEP 427's
    `floorline-<version>.dist-info`), without importlib.metadata (which imports email,
    zipfile and csv: ~2 MiB resident for one string)."""
    for entry in sys.path if path is None else path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for name in names:
            if name.startswith("floorline-") and name.endswith(".dist-info"):
                return name[len("floorline-") : -len(".dist-info")]
    return "unknown"


def main() -> int:
    logging.basicConfig(
        level=os.environ.get("FLOORLINE_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stdout,
    )
    gg = ipc.connect()
    if gg is None:
        log.error("event=no_nucleus reason='uplink needs Greengrass IPC (SVCUID and socket env)'")
        return 2
    try:
        holder = ipc.load_config(SPEC, gg)
    except ConfigError as exc:
        log.error("event=bad_config errors=%s", json.dumps(exc.errors))
        return 2
    state = component_state.Reporter(holder.current.logPath, "Uplink")
    up = Uplink(gg, holder, ipc.thing_name())
    up.stop.on_signals(signal.SIGTERM, signal.SIGINT)
    state.running()
    up.run()
    gg.close()
    state.stopped()
    return 0


if __name__ == "__main__":
    sys.exit(main())
