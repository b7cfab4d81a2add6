"""The lake: encrypted S3 bucket, Glue table with partition projection, Athena workgroup."""

from __future__ import annotations

from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_athena as athena
from aws_cdk import aws_glue as glue
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from cloud.cdk.columns import COLUMNS, PARTITION_KEYS, TABLE

TABLE_PREFIX = f"{TABLE}/"
PROJECTION_START_DATE = "2026-01-01"  # no floorline record is older than the suite
GLACIER_AFTER_DAYS = 90
NONCURRENT_EXPIRE_DAYS = 30


def storage_template(bucket_name: str) -> str:
    """S3 layout of the table; Firehose's prefix and Glue's projection template must agree."""
    keys = "/".join(f"{name}=${{{name}}}" for name, _ in PARTITION_KEYS)
    return f"s3://{bucket_name}/{TABLE_PREFIX}{keys}/"


def projection_parameters(sites: Sequence[str], bucket_name: str) -> dict[str, str]:
    """Athena partition projection: sites enumerated from the stack's site list, dates by day."""
    if not sites:
        raise ValueError("at least one site is needed for the site projection")
    return {
        "classification": "parquet",
        "parquet.compression": "SNAPPY",
        "projection.enabled": "true",
        "projection.site.type": "enum",
        "projection.site.values": ",".join(sites),
        "projection.dt.type": "date",
        "projection.dt.format": "yyyy-MM-dd",
        "projection.dt.range": f"{PROJECTION_START_DATE},NOW",
        "projection.dt.interval": "1",
        "projection.dt.interval.unit": "DAYS",
        "storage.location.template": storage_template(bucket_name),
    }


class LakeConstruct(Construct):
    """Lake bucket (+ its access-log bucket), Glue database/table, Athena workgroup."""

    def __init__(
        self, scope: Construct, construct_id: str, *, key: kms.IKey, sites: Sequence[str]
    ) -> None:
        super().__init__(scope, construct_id)
        # Server access logs need SSE-S3 on the target bucket (S3 cannot log into SSE-KMS).
        self.log_bucket = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            versioned=True,
            lifecycle_rules=[
                s3.LifecycleRule(
                    expiration=cdk.Duration.days(365),
                    noncurrent_version_expiration=cdk.Duration.days(NONCURRENT_EXPIRE_DAYS),
                )
            ],
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=key,
            bucket_key_enabled=True,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            versioned=True,
            server_access_logs_bucket=self.log_bucket,
            server_access_logs_prefix="lake/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="telemetry-to-glacier",
                    prefix=TABLE_PREFIX,
                    transitions=[
                        s3.Transition(
                            storage_class=s3.StorageClass.GLACIER_INSTANT_RETRIEVAL,
                            transition_after=cdk.Duration.days(GLACIER_AFTER_DAYS),
                        )
                    ],
                    noncurrent_version_expiration=cdk.Duration.days(NONCURRENT_EXPIRE_DAYS),
                ),
                s3.LifecycleRule(
                    id="expire-athena-results",
                    prefix="athena-results/",
                    expiration=cdk.Duration.days(30),
                ),
                s3.LifecycleRule(abort_incomplete_multipart_upload_after=cdk.Duration.days(7)),
            ],
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )

        stack = cdk.Stack.of(self)
        self.database = glue.CfnDatabase(
            self,
            "Database",
            catalog_id=stack.account,
            database_input=glue.CfnDatabase.DatabaseInputProperty(
                name="floorline", description="floorline lake"
            ),
        )
        self.table_name = TABLE
        self.table = glue.CfnTable(
            self,
            "Table",
            catalog_id=stack.account,
            database_name="floorline",
            table_input=glue.CfnTable.TableInputProperty(
                name=self.table_name,
                description="Envelopes from the uplink, Parquet, partitioned by site and day",
                table_type="EXTERNAL_TABLE",
                parameters=projection_parameters(sites, self.bucket.bucket_name),
                partition_keys=[
                    glue.CfnTable.ColumnProperty(name=n, type=t) for n, t in PARTITION_KEYS
                ],
                storage_descriptor=glue.CfnTable.StorageDescriptorProperty(
                    columns=[
                        glue.CfnTable.ColumnProperty(name=n, type=t, comment=c)
                        for n, t, c in COLUMNS
                    ],
                    location=f"s3://{self.bucket.bucket_name}/{TABLE_PREFIX}",
                    input_format="org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
                    output_format="org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
                    serde_info=glue.CfnTable.SerdeInfoProperty(
                        serialization_library=(
                            "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
                        ),
                    ),
                ),
            ),
        )
        self.table.node.add_dependency(self.database)

        self.workgroup = athena.CfnWorkGroup(
            self,
            "WorkGroup",
            name=f"{stack.stack_name}-lake".lower(),
            description="floorline lake queries (settings enforced, results KMS-encrypted)",
            state="ENABLED",
            recursive_delete_option=True,
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                enforce_work_group_configuration=True,
                publish_cloud_watch_metrics_enabled=True,
                bytes_scanned_cutoff_per_query=10 * 1024**3,
                engine_version=athena.CfnWorkGroup.EngineVersionProperty(
                    selected_engine_version="Athena engine version 3"
                ),
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=f"s3://{self.bucket.bucket_name}/athena-results/",
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option="SSE_KMS", kms_key=key.key_arn
                    ),
                ),
            ),
        )
