"""One simulated Greengrass core device: nucleus, Stream Manager, MQTT connection, components.

The components are real processes started from the built recipes (edge_sim/nucleus/
lifecycle.py); they reach the nucleus through the real awsiotsdk IPC client and Stream
Manager through the real SDK, exactly as on a Raspberry Pi.
"""

from __future__ import annotations

import logging
import os
import secrets
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from edge_sim.nucleus.access import CLASSIC
from edge_sim.nucleus.config_store import ConfigStore
from edge_sim.nucleus.ipc_server import NucleusServer
from edge_sim.nucleus.lifecycle import Component, stop_all

log = logging.getLogger("edge_sim.device")

STREAM_MANAGER = "aws.greengrass.StreamManager"


def deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = (
            deep_merge(out[k], v)
            if isinstance(v, Mapping) and isinstance(out.get(k), Mapping)
            else v
        )
    return out


class Device:
    def __init__(
        self,
        thing: str,
        root: Path,
        built: Mapping[str, Any],
        *,
        cloud: Any,
        kinesis_sink: Any,
        overrides: Mapping[str, Mapping[str, Any]],
        extra_env: Mapping[str, str] | None = None,
        sm_speed: float = 1.0,
        nucleus: str = CLASSIC,
    ) -> None:
        """`nucleus`: which nucleus the device plays (edge_sim/nucleus/README.md, "Flavours");
        nucleus lite has no Stream Manager, so a lite device runs none."""
        from edge_sim.stream_manager import StreamManagerServer

        self.thing = thing
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        # Unix socket paths are limited to 108 bytes: the socket lives in a short temp dir.
        self._sock_dir = tempfile.mkdtemp(prefix="ggs")
        self.socket_path = os.path.join(self._sock_dir, "ipc.sock")
        self.store = ConfigStore()
        self.components: dict[str, Component] = {}
        acl: dict[str, tuple[str, Any]] = {}
        tokens = {}
        self._configs: dict[str, dict[str, Any]] = {}
        for name, b in built.items():
            if b.artifact_zip is None:
                continue  # the suite: no code, only dependencies
            defaults = (b.recipe.get("ComponentConfiguration") or {}).get(
                "DefaultConfiguration"
            ) or {}
            config = deep_merge(defaults, overrides.get(name, {}))
            self.store.set_component(name, config)
            self._configs[name] = config
            token = secrets.token_hex(16)
            tokens[name] = token
            acl[name] = (token, config.get("accessControl"))
        self.sm = (
            StreamManagerServer(
                root / "stream_manager",
                auth_tokens=set(tokens.values()),
                sink=kinesis_sink,
                speed=sm_speed,
            )
            if nucleus == CLASSIC
            else None
        )
        self.nucleus = NucleusServer(
            self.socket_path,
            components=acl,
            config_store=self.store,
            cloud=cloud,
            thing_name=thing,
            flavour=nucleus,
        )
        self._built = built
        self._tokens = tokens
        self._extra_env = dict(extra_env or {})

    def start(self) -> None:
        if self.sm is not None:
            self.sm.start()
        self.nucleus.start()
        for name, token in self._tokens.items():
            b = self._built[name]
            env = {
                **os.environ,
                **self._extra_env,
                "SVCUID": token,
                "AWS_CONTAINER_AUTHORIZATION_TOKEN": token,
                "AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT": self.socket_path,
                "AWS_IOT_THING_NAME": self.thing,
                "AWS_REGION": "eu-west-1",
                "AWS_DEFAULT_REGION": "eu-west-1",
                "GG_ROOT_CA_PATH": "",
            }
            if self.sm is not None:
                env["STREAM_MANAGER_SERVER_PORT"] = str(self.sm.port)
            env.pop("PYTHONPATH", None)  # the component's Setenv decides where its code is
            comp = Component(
                name, b.recipe, b.artifact_zip, self.root, self.thing, env, self._configs[name]
            )
            comp.install()
            comp.start()
            self.components[name] = comp
        log.info("event=device_started thing=%s components=%d", self.thing, len(self.components))

    def supervise(self) -> None:
        for c in self.components.values():
            c.supervise()

    def stop_components(self, names: list[str]) -> None:
        stop_all(self.components[n] for n in names if n in self.components)

    def stop(self) -> None:
        stop_all(self.components.values())
        self.nucleus.stop()
        if self.sm is not None:
            self.sm.stop()
        try:
            os.rmdir(self._sock_dir)
        except OSError:
            pass

    def unexported(self) -> int:
        """Messages Stream Manager holds that its Kinesis export has not delivered yet."""
        waiting = 0
        if self.sm is None:
            return 0
        for stream in self.sm.snapshot()["streams"].values():
            newest = stream["storage"].get("newestSequenceNumber")
            if newest is None:
                continue
            for export in stream["exports"]:
                waiting += max(0, newest - export["lastExportedSequenceNumber"])
        return waiting

    def states(self) -> dict[str, str]:
        return {n: c.state for n, c in self.components.items()}
