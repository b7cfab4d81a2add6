"""Contract: the cloud path and the local path file the same rows, and they are the Glue table's.

Everything the uplink can send (a message on each topic the rules route, and the raw batches
Stream Manager appends to Kinesis), plus records that do not decode and two kinds of
redelivery, goes through the rules engine onto the telemetry stream, and from there
- to the cloud: the decoder Lambda's handler taken from the asset `cdk synth` (the pinned npm
  CLI) wrote, run alone against moto's Firehose and S3; what reaches the delivery stream is
  then filed as the template's delivery stream says (de-aggregation, the jq partition query,
  the Glue table's columns), read from the template by this test, not from the project's
  modules;
- to the local lake (cloud/lake), read back from its Parquet files with DuckDB.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cloud.lake import decode
from cloud.lake.query import query
from cloud.lake.store import Lake
from cloud.rules import definitions as d
from cloud.rules.engine import RulesEngine
from cloud.rules.handlers import MemoryStream, memory_handlers
from components.core import batch, topics
from components.core.clock import ManualClock
from components.core.envelope import Record
from components.uplink.plan import plan

Synth = Any  # conftest.Synth: the session's synthesized assembly
RUNNER = Path(__file__).with_name("decoder_asset_runner.py")
T0_MS = 1_795_000_000_000  # 2026-11-18
ARRIVAL_MS = T0_MS + 3_600_000
EVENT_BATCH = 4  # records per Lambda invocation (the stack says 10; fewer, to have several)
GLUE_TO_DUCKDB = {"string": "VARCHAR", "bigint": "BIGINT", "int": "INTEGER", "boolean": "BOOLEAN"}
GLUE_TO_PYTHON = {"string": str, "bigint": int, "int": int, "boolean": bool}


def make(device: str, stream: str, cls: str, count: int, start_seq: int = 1) -> list[Record]:
    return [
        Record(device=device, stream=stream, seq=start_seq + i, cls=cls, mono_ns=i * 10**6,
               wall_ms=T0_MS + 1000 * i, clock_synced=i % 7 != 3, payload={"v": i / 4, "i": i})
        for i in range(count)
    ]  # fmt: skip


def telemetry_stream() -> list[bytes]:
    """What the telemetry stream receives from one device: its MQTT messages through the rules,
    its Stream Manager exports, and records no decoder can read."""
    kinesis = MemoryStream()
    engine = RulesEngine(d.RULES, memory_handlers(kinesis=kinesis))
    records = [
        *make("dev-001", "vib/adxl345@0x53", "alert", 3),
        *make("dev-001", "rfid/rdm6300@ttyS0", "event", 12),
        *make("dev-001", "env/bme280@0x76", "aggregate", 40),
        *make("dev-001", "sys/health", "health", 2),
        *make("dev-001", "vib/adxl345@0x53", "raw", 60, start_seq=100),
        *make("lan-plc-7", "http/plc@lan", "raw", 7),  # a LAN device through the gateway
    ]
    messages = plan(records, list(range(1, len(records) + 1)), site="plant-a",
                    thing="dev-001", max_bytes=2048)  # fmt: skip
    sent_kinds = {topics.parse(m.topic)[2] for m in messages}
    routed_kinds = {
        rule.sql.split("'")[1].rsplit("/", 1)[1]
        for rule in d.RULES
        if any(action.type == d.KINESIS for action in rule.actions)
    }
    assert routed_kinds <= sent_kinds, routed_kinds - sent_kinds  # every routed topic is used
    for message in messages:
        engine.publish(message.topic, message.payload, clientid="dev-001", timestamp_ms=T0_MS)
    assert len(kinesis.records) == len(messages)
    # Stream Manager's export of raw readings (the uplink's Kinesis path): batches as appended.
    exported = [data for data, _ in batch.pack(make("dev-001", "env/sht3x@0x44", "raw", 300),
                                               site="plant-a", max_bytes=4096)]  # fmt: skip
    alert = make("dev-001", "vib/adxl345@0x53", "alert", 1, start_seq=50)[0].to_dict()
    undecodable = [
        b"not a batch",
        exported[0][:-9],  # truncated
        json.dumps({**alert, "cls": "raw", "site": "plant-a"}).encode(),  # JSON, not an alert
        json.dumps(alert).encode(),  # an alert without the rule's site
    ]
    return [data for _, data in kinesis.records] + exported + undecodable


def deliveries() -> list[list[tuple[str, str, int, bytes]]]:
    """Lambda invocations: (sequence number, partition key, arrival ms, data) records."""
    datas = telemetry_stream()
    datas.append(datas[0])  # the uplink sends a batch again (its ack was lost): a new record
    stream = [(f"{49650000000000000000 + i}", "dev-001", ARRIVAL_MS + i, data)
              for i, data in enumerate(datas)]  # fmt: skip
    calls = [stream[i : i + EVENT_BATCH] for i in range(0, len(stream), EVENT_BATCH)]
    return [*calls, calls[1]]  # Lambda invokes a batch again (a retry after a failure)


def lambda_event(records: list[tuple[str, str, int, bytes]]) -> dict[str, Any]:
    return {"Records": [
        {"kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey": key, "sequenceNumber": seq,
                     "data": base64.b64encode(data).decode(),
                     "approximateArrivalTimestamp": arrival / 1000},
         "eventSource": "aws:kinesis", "eventName": "aws:kinesis:record"}
        for seq, key, arrival, data in records]}  # fmt: skip


def only(resources: dict[str, Any], cfn_type: str) -> dict[str, Any]:
    (found,) = [r["Properties"] for r in resources.values() if r["Type"] == cfn_type]
    return found


def destination(synth: Synth) -> dict[str, Any]:
    stream = only(synth.template["Resources"], "AWS::KinesisFirehose::DeliveryStream")
    return dict(stream["ExtendedS3DestinationConfiguration"])


def decoder_asset(synth: Synth) -> Path:
    """The directory of the function the Kinesis event source invokes, from cdk.out."""
    resources = synth.template["Resources"]
    function = only(resources, "AWS::Lambda::EventSourceMapping")["FunctionName"]["Ref"]
    key = resources[function]["Properties"]["Code"]["S3Key"]
    env = resources[function]["Properties"]["Environment"]["Variables"]
    assert {"DELIVERY_STREAM", "QUARANTINE_BUCKET"} <= set(env)  # what the runner sets
    return synth.outdir / f"asset.{key.removesuffix('.zip')}"


def file_as_firehose(synth: Synth, bodies: list[bytes]) -> list[dict[str, Any]]:
    """Rows as the template's delivery stream files them: JSON objects split, partition keys
    by its jq query, Parquet columns by its Glue table."""
    resources = synth.template["Resources"]
    s3 = destination(synth)
    params = {p["ParameterName"]: p["ParameterValue"]
              for proc in s3["ProcessingConfiguration"]["Processors"]
              for p in proc["Parameters"]}  # fmt: skip
    assert params["SubRecordType"] == "JSON" and params["JsonParsingEngine"] == "JQ-1.6"
    jq = dict(re.findall(r'"(\w+)":\.(\w+)', params["MetadataExtractionQuery"]))
    table = only(resources, "AWS::Glue::Table")["TableInput"]
    columns = {c["Name"]: c["Type"] for c in table["StorageDescriptor"]["Columns"]}
    partition_keys = [k["Name"] for k in table["PartitionKeys"]]
    assert sorted(jq) == sorted(partition_keys)
    rows = []
    for body in bodies:
        for line in body.decode().splitlines():
            obj = json.loads(line)
            row = {name: obj.get(name) for name in columns}
            for name, glue_type in columns.items():
                assert row[name] is None or type(row[name]) is GLUE_TO_PYTHON[glue_type], name
            rows.append({**row, **{key: obj[field] for key, field in jq.items()}})
    return rows


def run_cloud(synth: Synth, calls: list[list[tuple[str, str, int, bytes]]]) -> dict[str, Any]:
    s3 = destination(synth)
    request = {"invocations": [lambda_event(c) for c in calls], "prefix": s3["Prefix"]}
    proc = subprocess.run(
        [sys.executable, "-I", str(RUNNER), str(decoder_asset(synth))],
        input=json.dumps(request), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_cloud_and_local_paths_file_the_same_rows(cli_synth: Synth, tmp_path: Path) -> None:
    synth = cli_synth
    calls = deliveries()
    cloud = run_cloud(synth, calls)
    assert cloud["answers"] == [{"batchItemFailures": []}] * len(calls)
    assert cloud["clients_made"] == 2  # Firehose and S3, once for every invocation
    objects = {o["key"]: o for o in cloud["objects"]}
    quarantined = {k: o for k, o in objects.items() if k.startswith("decode-failed/")}
    delivered = [base64.b64decode(o["body"]) for k, o in objects.items() if k not in quarantined]
    cloud_rows = file_as_firehose(synth, delivered)

    with Lake(tmp_path / "lake", clock=ManualClock(wall_ms=ARRIVAL_MS)) as lake:
        for call in calls:
            lake.ingest_stream(call)
        names, values = query(lake, "SELECT * FROM telemetry")
        local_rows = [dict(zip(names, v, strict=True)) for v in values]
        described = query(lake, "SELECT column_name, column_type FROM (DESCRIBE telemetry)")[1]
        local_kept = {p.relative_to(lake.root).as_posix(): p for p in
                      (lake.root / "decode-failed").rglob("*.flb")}  # fmt: skip

    # The cloud keeps every delivery; identity (device, stream, seq) removes the redeliveries.
    # A Lambda retry repeats rows exactly; a resend from the device arrives later.
    first: dict[tuple[str, str, int], dict[str, Any]] = {}
    for row in sorted(cloud_rows, key=lambda r: r["ingest_ms"]):
        first.setdefault((row["device"], row["stream"], row["seq"]), row)
    assert len(cloud_rows) > len(first)
    key = lambda r: (r["device"], r["stream"], r["seq"])  # noqa: E731
    assert sorted(local_rows, key=key) == sorted(first.values(), key=key)
    assert {r["cls"] for r in local_rows} == {"alert", "event", "aggregate", "health", "raw"}
    assert len(local_rows) == 3 + 12 + 40 + 2 + 60 + 7 + 300

    table = only(synth.template["Resources"], "AWS::Glue::Table")["TableInput"]
    glue = [(c["Name"], c["Type"]) for c in table["StorageDescriptor"]["Columns"]]
    glue += [(k["Name"], k["Type"]) for k in table["PartitionKeys"]]
    assert described == [(name, GLUE_TO_DUCKDB[t]) for name, t in glue]

    # The same records quarantined under the same keys, with the same bytes and a reason.
    assert sorted(local_kept) == sorted(quarantined) and len(quarantined) == 4
    for name, path in local_kept.items():
        assert path.read_bytes() == base64.b64decode(quarantined[name]["body"])
        assert quarantined[name]["metadata"]["reason"]
        assert path.with_name(path.name + ".why").read_text().strip()


def test_every_rule_that_feeds_the_stream_sends_a_kind_the_decoder_knows() -> None:
    kinds = {decode.kind_of(data) for data in telemetry_stream()[:-4]}
    assert kinds == set(decode.KINDS)
