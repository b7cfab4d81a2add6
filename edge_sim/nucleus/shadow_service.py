"""IoT Core's Device Shadow service over its reserved MQTT topics, for edge_sim's cloud.

A device (on either nucleus: nucleus lite has no shadow IPC) publishes to
`$aws/things/<thing>/shadow[/name/<name>]/<op>` with op `update`, `get` or `delete`; the
service answers on `<op>/accepted` or `<op>/rejected` (`{"code", "message"}`) and, after an
update of the desired state that leaves desired and reported apart, on `update/delta`
(`{"state": <difference>, "version", "timestamp"}`), as the AWS IoT developer guide's
"Device Shadow service MQTT topics" describes. The documents are `ShadowStore`'s (shadow.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, Final

from edge_sim.nucleus.shadow import (
    ShadowConflict,
    ShadowError,
    ShadowNotFound,
    ShadowStore,
    delta,
)

SHADOW_FILTER: Final = "$aws/things/+/shadow/#"
_TOPIC = re.compile(r"^\$aws/things/([^/]+)/shadow(?:/name/([^/]+))?/(update|get|delete)$")
# The codes the service puts in a rejection.
_CODES: Final = {ShadowNotFound: 404, ShadowConflict: 409}

Send = Callable[[str, bytes], Any]  # (topic, payload) to the device


class ShadowService:
    def __init__(self, store: ShadowStore, send: Send) -> None:
        self.store = store
        self.send = send
        self.stats = {"requests": 0, "rejected": 0}

    def handle(self, topic: str, payload: bytes) -> bool:
        """Answer a request topic; False for any other topic (answers included)."""
        match = _TOPIC.match(topic)
        if match is None:
            return False
        thing, name, operation = match.group(1), match.group(2), match.group(3)
        self.stats["requests"] += 1
        try:
            if operation == "update":
                self._respond(topic, self.store.update(thing, name, payload))
                # IoT Core publishes a delta when an update changes the desired state only.
                if "desired" in json.loads(payload)["state"]:
                    self._send_delta(thing, name, topic.removesuffix("update"))
            elif operation == "get":
                self._respond(topic, self.store.get(thing, name))
            else:
                self._respond(topic, self.store.delete(thing, name))
        except ShadowError as exc:
            self.stats["rejected"] += 1
            code = next((c for kind, c in _CODES.items() if isinstance(exc, kind)), 400)
            body = {"code": code, "message": str(exc)}
            self.send(f"{topic}/rejected", json.dumps(body).encode())
        return True

    def update_from_cloud(self, thing: str, name: str | None, payload: bytes) -> dict[str, Any]:
        """An update made in the cloud (console, an application): the device hears the delta."""
        accepted = self.store.update(thing, name, payload)
        base = f"$aws/things/{thing}/shadow/" + (f"name/{name}/" if name else "")
        self._send_delta(thing, name, base)
        return accepted

    def _respond(self, topic: str, document: dict[str, Any]) -> None:
        self.send(f"{topic}/accepted", json.dumps(document).encode())

    def _send_delta(self, thing: str, name: str | None, base: str) -> None:
        document = self.store.get(thing, name)
        state = document["state"]
        difference = delta(state.get("desired", {}), state.get("reported", {}))
        if difference:
            body = {
                "state": difference,
                "version": document["version"],
                "timestamp": document["timestamp"],
            }
            self.send(f"{base}update/delta", json.dumps(body).encode())
