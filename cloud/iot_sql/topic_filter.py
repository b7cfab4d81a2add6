"""MQTT topic filters as the FROM clause uses them (one implementation, in components/core)."""

from cloud.mqtt.filters import TopicFilterError, topic_matches
from cloud.mqtt.filters import check_filter as validate_filter

__all__ = ["TopicFilterError", "topic_matches", "validate_filter"]
