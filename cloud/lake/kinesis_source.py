"""Feed the lake from a Kinesis data stream (AWS, or a local Kinesis such as moto or
kinesalite through `endpoint_url`): the local counterpart of Firehose's Kinesis source.

Each shard is read from its checkpoint (or the oldest record); a page of records is ingested,
then the checkpoint advances. A crash between the two re-reads the page, and the lake's
identity index drops what it already has: at-least-once reading, exactly-once rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cloud.lake.store import IngestResult, Lake
from components.core.limits import KINESIS_PUT_RECORDS_MAX


@dataclass
class PollResult:
    records: int = 0
    ingested: IngestResult | None = None


class KinesisSource:
    def __init__(self, lake: Lake, kinesis: Any, stream_name: str) -> None:
        """`kinesis` is a boto3 Kinesis client."""
        self.lake = lake
        self.kinesis = kinesis
        self.stream_name = stream_name

    def _shards(self) -> list[str]:
        shards: list[str] = []
        kwargs: dict[str, Any] = {"StreamName": self.stream_name}
        while True:
            page = self.kinesis.list_shards(**kwargs)
            shards += [shard["ShardId"] for shard in page["Shards"]]
            token = page.get("NextToken")
            if not token:
                return shards
            kwargs = {"NextToken": token}

    def poll(self, limit: int = KINESIS_PUT_RECORDS_MAX) -> list[PollResult]:
        """Read one page from every shard; returns once what was read is durable."""
        results = []
        for shard in self._shards():
            key = f"kinesis:{self.stream_name}:{shard}"
            position = self.lake.checkpoint(key)
            args: dict[str, Any] = {"StreamName": self.stream_name, "ShardId": shard}
            if position is None:
                args["ShardIteratorType"] = "TRIM_HORIZON"
            else:
                args["ShardIteratorType"] = "AFTER_SEQUENCE_NUMBER"
                args["StartingSequenceNumber"] = position
            iterator = self.kinesis.get_shard_iterator(**args)["ShardIterator"]
            page = self.kinesis.get_records(ShardIterator=iterator, Limit=limit)["Records"]
            result = PollResult(records=len(page))
            if page:
                # As Lambda hands them to the decoder: sequence number, key, arrival, data.
                result.ingested = self.lake.ingest_stream(
                    (r["SequenceNumber"], r["PartitionKey"],
                     int(r["ApproximateArrivalTimestamp"].timestamp() * 1000), r["Data"])
                    for r in page
                )  # fmt: skip
                self.lake.set_checkpoint(key, page[-1]["SequenceNumber"])
            results.append(result)
        return results
