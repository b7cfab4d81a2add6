"""AWS IoT Core, Greengrass and Kinesis limits: the physical limits of the uplink.

Defined once here; the uplink, edge_sim's nucleus (which enforces them) and the cloud import them.
"""

from typing import Final

# IoT Core MQTT (per device connection; every component shares the nucleus connection).
MQTT_MAX_PAYLOAD_BYTES: Final = 128 * 1024
MQTT_PUBLISHES_PER_S: Final = 100
MQTT_BYTES_PER_S: Final = 512 * 1024
MQTT_BILLING_STEP_BYTES: Final = 5 * 1024
MQTT_TOPIC_MAX_BYTES: Final = 256
MQTT_TOPIC_MAX_SLASHES: Final = 7
MQTT_RULES_PREFIX: Final = "$aws/rules/"  # exempt from the slash count (with the rule name)

# Greengrass nucleus MQTT spooler defaults.
SPOOL_MAX_BYTES: Final = int(2.5 * 1024 * 1024)
MAX_IN_FLIGHT_PUBLISHES: Final = 5

# Greengrass nucleus lite 2.6.0: one IPC message (frame) at most this long
# (`GGL_IPC_MAX_MSG_LEN`); a longer one closes the connection.
LITE_IPC_MESSAGE_MAX_BYTES: Final = 10_000
# The largest IoT Core payload that fits one such message: base64 (4/3) plus the request's
# JSON and event-stream headers (~600 bytes with a 256-byte topic).
LITE_IOT_PAYLOAD_MAX_BYTES: Final = (LITE_IPC_MESSAGE_MAX_BYTES - 600) * 3 // 4
# Its recipe-runner reads at most this much of a recipe file (ggl-recipe/src/recipe.c).
LITE_RECIPE_MAX_BYTES: Final = 8196

# Kinesis Data Streams.
KINESIS_RECORD_MAX_BYTES: Final = 1024 * 1024
KINESIS_PUT_RECORDS_MAX: Final = 500
KINESIS_PUT_RECORDS_MAX_BYTES: Final = 5 * 1024 * 1024  # whole PutRecords request
KINESIS_SHARD_BYTES_PER_S: Final = 1024 * 1024
KINESIS_SHARD_RECORDS_PER_S: Final = 1000

# Stream Manager's Kinesis export.
SM_BATCH_SIZE_RANGE: Final = (1, 500)
SM_MIN_BATCH_INTERVAL_MS: Final = 60_000

# Greengrass component recipes.
RECIPE_MAX_BYTES: Final = 16_000

# Firehose dynamic partitioning.
FIREHOSE_MAX_ACTIVE_PARTITIONS: Final = 500


def billed_units(payload_bytes: int) -> int:
    """IoT Core bills messages in 5 KB steps (a 0-byte message is still one unit)."""
    return max(1, -(-payload_bytes // MQTT_BILLING_STEP_BYTES))
