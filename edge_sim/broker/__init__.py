"""The local IoT Core for edge_sim: Mosquitto with mutual TLS, per-device certificates and an
ACL built from the topic scheme, per-device network links, and the nucleus' MQTT connection."""

from .broker import Broker, BrokerError
from .config import CLOUD_USER, acl_text
from .connection import MqttCloudConnection
from .pki import CertFiles, LocalCA
from .proxy import NetworkLink

__all__ = [
    "CLOUD_USER",
    "Broker",
    "BrokerError",
    "CertFiles",
    "LocalCA",
    "MqttCloudConnection",
    "NetworkLink",
    "acl_text",
]
