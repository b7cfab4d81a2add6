"""Batch decoder Lambda: Kinesis (uplink batches, alerts) -> Firehose DirectPut (JSON rows).

Why not a Firehose transform: a Firehose transform answers each input record with one output
record under a 6 MB response cap, and uplink batches expand about 60x from compressed columnar
to JSON rows, so a single 200 KB Firehose buffer of batches would already overflow it. Here the
decoder reads the stream, and Firehose gets rows packed as concatenated JSON, splits them,
partitions each row by its own `site` and `dt` (jq) and converts them to Parquet.

The decoding and routing is cloud/lake/decode.py's `process`, the very function the local lake
runs; this file is only its I/O: the Firehose and S3 clients (made once per execution
environment and reused across invocations) and the clock. A record that does not decode is
written to the lake bucket under `decode-failed/<arrival day>/<sequence number>.flb`, the
reason in the object's metadata.

Runs with only the modules lambda_asset.module_closure finds from here and the Lambda
runtime's boto3.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Mapping
from typing import Any

from cloud.lake.decode import process

REASON_METADATA_BYTES = 1024  # S3 user metadata is at most 2 KB, US-ASCII


@functools.cache
def _client(service: str) -> Any:  # pragma: no cover - needs AWS
    import boto3  # in the Lambda runtime

    return boto3.client(service)


def _put(records: list[bytes]) -> list[bool]:  # pragma: no cover - needs AWS
    answer = _client("firehose").put_record_batch(
        DeliveryStreamName=os.environ["DELIVERY_STREAM"],
        Records=[{"Data": rec} for rec in records],
    )
    return ["ErrorCode" not in r for r in answer["RequestResponses"]]


def _quarantine(key: str, data: bytes, reason: str) -> None:  # pragma: no cover - needs AWS
    text = reason.encode("ascii", "backslashreplace").decode("ascii")
    _client("s3").put_object(
        Bucket=os.environ["QUARANTINE_BUCKET"],
        Key=key,
        Body=data,
        Metadata={"reason": " ".join(text.split())[:REASON_METADATA_BYTES]},
    )


def handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    return process(event, _put, _quarantine, time.sleep)
