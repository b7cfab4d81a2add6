"""Run a synthesized decoder asset's Lambda handler against moto's Firehose and S3.

`python -I decoder_asset_runner.py <asset dir>`, stdin: {"invocations": [event, ...],
"prefix": <Firehose data prefix>}; stdout (last line): {"answers": [...], "objects": [{key,
body (base64), metadata}], "clients_made": n}. The interpreter sees the asset first and the
venv's site-packages (boto3, moto) behind it, not the repository: whatever the handler
imports must be in the asset.
"""

from __future__ import annotations

import base64
import json
import os
import sys

ASSET = os.path.abspath(sys.argv[1])
sys.path.insert(0, ASSET)
BUCKET = "floorline-lake"
STREAM = "floorline-to-lake"
os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",  # noqa: S105 - moto's dummy credentials
    AWS_DEFAULT_REGION="eu-west-1",
    DELIVERY_STREAM=STREAM,
    QUARANTINE_BUCKET=BUCKET,
)

import boto3  # noqa: E402
from moto import mock_aws  # noqa: E402


def main() -> None:
    request = json.load(sys.stdin)
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
        )
        boto3.client("firehose").create_delivery_stream(
            DeliveryStreamName=STREAM,
            DeliveryStreamType="DirectPut",
            ExtendedS3DestinationConfiguration={
                "RoleARN": "arn:aws:iam::123456789012:role/firehose",
                "BucketARN": f"arn:aws:s3:::{BUCKET}",
                "Prefix": request["prefix"],
            },
        )
        import handler  # the asset's, with the modules packaged beside it

        for name, module in list(sys.modules.items()):
            if name.split(".")[0] in ("cloud", "components", "handler"):
                where = os.path.abspath(getattr(module, "__file__", None) or ASSET)
                assert where.startswith(ASSET + os.sep), f"{name} imported from {where}"
        answers = [handler.handler(event, None) for event in request["invocations"]]
        objects = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
            for item in page.get("Contents", []):
                got = s3.get_object(Bucket=BUCKET, Key=item["Key"])
                body = got["Body"].read()
                objects.append({"key": item["Key"], "metadata": got.get("Metadata", {}),
                                "body": base64.b64encode(body).decode()})  # fmt: skip
        clients_made = handler._client.cache_info().misses  # boto3 clients built, all calls
    print(json.dumps({"answers": answers, "objects": objects, "clients_made": clients_made}))


if __name__ == "__main__":
    main()
