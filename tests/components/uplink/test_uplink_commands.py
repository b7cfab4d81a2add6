import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from components.uplink.commands import CommandError, parse, reply


def _cmd(**doc) -> bytes:
    return json.dumps(doc).encode()


def test_valid_commands():
    assert parse(_cmd(id="1", command="flush")).name == "flush"
    assert parse(_cmd(id="2", command="identify")).args == {"seconds": 10.0}
    c = parse(
        _cmd(
            id="3",
            command="set-rate",
            args={"stream": "env/bme280@0x76", "sampleIntervalSeconds": 5},
        )
    )
    assert c.args == {"stream": "env/bme280@0x76", "sampleIntervalSeconds": 5.0}


@pytest.mark.parametrize(
    "payload, reason",
    [
        (b"not json", "not JSON"),
        (b"[1]", "not a JSON object"),
        (_cmd(command="flush"), "needs an 'id'"),
        (_cmd(id="1", command="reboot"), "unknown command 'reboot'"),
        (_cmd(id="1", command="identify", args={"seconds": 9999}), "between"),
        (_cmd(id="1", command="set-rate", args={"stream": "env/a@1"}), "required"),
        (
            _cmd(id="1", command="set-rate", args={"stream": "../x", "sampleIntervalSeconds": 1}),
            "stream name",
        ),
        (_cmd(id="1", command="flush", args=[1]), "'args' must be an object"),
        (b"{" * 10_000, "limit"),
    ],
)
def test_bad_commands_are_rejected_with_a_reason(payload, reason):
    with pytest.raises(CommandError, match=reason):
        parse(payload)


def test_reply_shape():
    assert json.loads(reply("7", "flush")) == {"id": "7", "command": "flush", "ok": True}
    assert json.loads(reply("7", "x", "nope"))["error"] == "nope"


@given(st.binary(max_size=200))
def test_arbitrary_bytes_only_ever_raise_command_error(data):
    try:
        parse(data)
    except CommandError:
        pass
