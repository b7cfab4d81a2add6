"""Action handlers that write to AWS with boto3 (or to moto / a local endpoint in tests).

`resources` maps each logical target (definitions.TARGETS) to the stream name, table name,
topic ARN or bucket name it stands for. Service errors propagate to the rules engine, which
records them and runs the rule's error action.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cloud.rules.definitions import DYNAMODB_V2, KINESIS, REPUBLISH, S3, SNS
from cloud.rules.handlers import ActionCall, ActionFailed, ActionHandler


class AwsHandlers:
    def __init__(self, session: Any, resources: Mapping[str, str]) -> None:
        """`session` is a boto3.Session (region and credentials already set)."""
        self.resources = dict(resources)
        self._kinesis = session.client("kinesis")
        self._dynamodb = session.resource("dynamodb")
        self._sns = session.client("sns")
        self._s3 = session.client("s3")
        self._iot_data = session.client("iot-data")

    def _target(self, call: ActionCall) -> str:
        target = call.action.target
        if target is None or target not in self.resources:
            raise ActionFailed(f"no resource bound to target {target!r}", resource=str(target))
        return self.resources[target]

    def kinesis(self, call: ActionCall) -> None:
        self._kinesis.put_record(
            StreamName=self._target(call),
            Data=call.payload,
            PartitionKey=call.params["partitionKey"],
        )

    def dynamodb_v2(self, call: ActionCall) -> None:
        if not isinstance(call.value, dict):
            raise ActionFailed("dynamoDBv2 needs a JSON object payload", self._target(call))
        # Int and Decimal values are what the DynamoDB serializer expects for numbers.
        self._dynamodb.Table(self._target(call)).put_item(Item=call.value)

    def sns(self, call: ActionCall) -> None:
        try:
            text = call.payload.decode("utf-8")
        except UnicodeDecodeError:
            raise ActionFailed("SNS messages must be UTF-8 text", self._target(call)) from None
        self._sns.publish(TopicArn=self._target(call), Message=text)

    def republish(self, call: ActionCall) -> None:
        self._iot_data.publish(
            topic=call.params["topic"], qos=int(call.params.get("qos", 0)), payload=call.payload
        )

    def s3(self, call: ActionCall) -> None:
        self._s3.put_object(Bucket=self._target(call), Key=call.params["key"], Body=call.payload)

    def handlers(self) -> dict[str, ActionHandler]:
        return {
            KINESIS: self.kinesis,
            DYNAMODB_V2: self.dynamodb_v2,
            SNS: self.sns,
            REPUBLISH: self.republish,
            S3: self.s3,
        }
