"""The uplink's configuration keys (the recipe's DefaultConfiguration is checked against it)."""

from dataclasses import dataclass

from components.core.config import Spec, check_kinesis_stream, check_site, setting
from components.core.limits import (
    MQTT_BYTES_PER_S,
    MQTT_MAX_PAYLOAD_BYTES,
    MQTT_PUBLISHES_PER_S,
    SM_MIN_BATCH_INTERVAL_MS,
)
from components.core.log.config import LogSettings


@dataclass(frozen=True)
class UplinkSettings(LogSettings):
    """The uplink's settings: one field per configuration key."""

    siteId: str = setting(
        "unassigned", "Site segment of every topic (one thing group per site)", check=check_site
    )
    iotPublishesPerSecond: float = setting(
        0.95 * MQTT_PUBLISHES_PER_S,
        "Publish rate cap; the device limit is shared by all components",
        min=0.1,
        max=MQTT_PUBLISHES_PER_S,
    )
    iotBytesPerSecond: float = setting(
        0.95 * MQTT_BYTES_PER_S, "Byte rate cap on IoT Core", min=1024, max=MQTT_BYTES_PER_S
    )
    iotMaxMessageBytes: int = setting(
        64 * 1024,
        "Largest batch published (IoT Core allows 128 KB; billing is per 5 KB)",
        min=5 * 1024,
        max=MQTT_MAX_PAYLOAD_BYTES,
    )
    batchMaxDelaySeconds: float = setting(
        5.0, "Longest an aggregate, event or health record waits to fill a batch", min=0, max=3600
    )
    batchMinRecords: int = setting(200, "Send a batch early once this many records wait", min=1)
    useKinesis: bool = setting(True, "Raw readings to Kinesis via Stream Manager (else IoT Core)")
    kinesisStreamName: str = setting(
        "floorline-raw", "Kinesis data stream for raw readings", check=check_kinesis_stream
    )
    streamManagerStreamName: str = setting(
        "floorline-raw", "Local Stream Manager message stream that exports to Kinesis"
    )
    streamManagerMaxBytes: int = setting(256 << 20, "Stream Manager stream size", min=1 << 20)
    kinesisBatchSize: int = setting(500, "Stream Manager export batch size", min=1, max=500)
    kinesisBatchIntervalMillis: int = setting(
        60_000, "Stream Manager export interval", min=SM_MIN_BATCH_INTERVAL_MS
    )
    kinesisMaxRecordBytes: int = setting(
        256 * 1024, "Largest raw batch appended", min=1024, max=1024 * 1024
    )
    shadowIntervalSeconds: float = setting(300.0, "How often reported state is updated", min=1)
    backoffMaxSeconds: float = setting(60.0, "Longest retry wait after an error", min=0.1)


SPEC = Spec(UplinkSettings)
