"""Raw telemetry path: Kinesis -> decoder Lambda -> Firehose (per-row partitions) -> Parquet.

The decoder (decoder/handler.py) turns each uplink batch into JSON rows and puts them to a
DirectPut Firehose, packed up to 500 rows per record; Firehose splits them again (JSON
de-aggregation), reads `site` and `dt` from each row (jq) for its S3 prefix, and converts
the rows to Parquet with the Glue table's columns.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_logs as logs
from constructs import Construct

from cloud.cdk.lake import LakeConstruct
from cloud.cdk.lambda_asset import DECODER_HANDLER, HANDLER, code_dir
from cloud.lake.decode import QUARANTINE_PREFIX
from cloud.lake.schema import FIREHOSE_ERROR_PREFIX, FIREHOSE_PREFIX

# Firehose prefixes (one definition with the local lake's layout); the data prefix must equal
# the Glue projection's storage.location.template.
DATA_PREFIX = FIREHOSE_PREFIX
ERROR_PREFIX = FIREHOSE_ERROR_PREFIX
BUFFER_MIB = 128  # largest Firehose buffer: fewer, bigger Parquet files
BUFFER_INTERVAL_S = 300


class IngestConstruct(Construct):
    """The Kinesis stream the uplink writes raw batches to, and the Firehose that lands them."""

    def __init__(
        self, scope: Construct, construct_id: str, *, key: kms.IKey, lake: LakeConstruct
    ) -> None:
        super().__init__(scope, construct_id)
        self.stream = kinesis.Stream(
            self,
            "Stream",
            stream_mode=kinesis.StreamMode.ON_DEMAND,
            encryption=kinesis.StreamEncryption.KMS,
            encryption_key=key,
            retention_period=cdk.Duration.hours(48),
        )

        fn_logs = logs.LogGroup(
            self,
            "DecoderLogs",
            retention=logs.RetentionDays.ONE_MONTH,
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        fn_role = iam.Role(
            self,
            "DecoderRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="floorline batch decoder: writes its own log group only",
        )
        fn_logs.grant_write(fn_role)
        self.decoder_role = fn_role
        self.decoder = lambda_.Function(
            self,
            "Decoder",
            runtime=lambda_.Runtime.PYTHON_3_14,
            architecture=lambda_.Architecture.ARM_64,
            handler=HANDLER,
            code=lambda_.Code.from_asset(str(code_dir(DECODER_HANDLER))),
            memory_size=1024,
            timeout=cdk.Duration.minutes(5),
            role=fn_role,
            log_group=fn_logs,
            description="Decodes uplink batches from Kinesis into JSON rows for Firehose",
        )

        destination = firehose.S3Bucket(
            lake.bucket,
            encryption_key=key,
            data_output_prefix=DATA_PREFIX,
            error_output_prefix=ERROR_PREFIX,
            buffering_size=cdk.Size.mebibytes(BUFFER_MIB),
            buffering_interval=cdk.Duration.seconds(BUFFER_INTERVAL_S),
            dynamic_partitioning=firehose.DynamicPartitioningProps(
                enabled=True, retry_duration=cdk.Duration.minutes(5)
            ),
            processors=[
                firehose.RecordDeAggregationProcessor.json(),
                firehose.MetadataExtractionProcessor.jq16({"site": ".site", "dt": ".dt"}),
            ],
            data_format_conversion=firehose.DataFormatConversionProps(
                schema_configuration=firehose.SchemaConfiguration.from_cfn_table(lake.table),
                input_format=firehose.InputFormat.OPENX_JSON,
                output_format=firehose.OutputFormat.PARQUET,  # SNAPPY inside Parquet
            ),
        )
        self.delivery_stream = firehose.DeliveryStream(
            self,
            "ToLake",
            destination=destination,
            encryption=firehose.StreamEncryption.customer_managed_key(key),
        )
        self.delivery_stream.grant_put_records(fn_role)
        self.decoder.add_environment("DELIVERY_STREAM", self.delivery_stream.delivery_stream_name)
        self.decoder.add_environment("QUARANTINE_BUCKET", lake.bucket.bucket_name)
        fn_role.add_to_policy(
            iam.PolicyStatement(
                sid="QuarantineRejectedBatches",
                actions=["s3:PutObject"],
                resources=[lake.bucket.arn_for_objects(f"{QUARANTINE_PREFIX}*")],
            )
        )
        fn_role.add_to_policy(
            iam.PolicyStatement(
                sid="QuarantineObjectKeys", actions=["kms:GenerateDataKey"], resources=[key.key_arn]
            )
        )
        self.decoder.add_event_source(
            sources.KinesisEventSource(
                self.stream,
                starting_position=lambda_.StartingPosition.TRIM_HORIZON,
                batch_size=10,  # up to 10 MiB of batches, ~650 MB of JSON rows at 65x
                max_batching_window=cdk.Duration.seconds(5),
                bisect_batch_on_error=True,
                report_batch_item_failures=True,
            )
        )
