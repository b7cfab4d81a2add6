"""MQTT topic filters: `+` matches one level, `#` the rest (the one implementation used by the
nucleus's local pub/sub, its IoT Core proxy and the IoT rules' FROM clause)."""

from __future__ import annotations


class TopicFilterError(ValueError):
    pass


def check_filter(topic_filter: str) -> str:
    """Reject filters MQTT forbids: empty, `#` not last or not a whole level, `+` in a level."""
    if not topic_filter:
        raise TopicFilterError("empty topic filter")
    levels = topic_filter.split("/")
    for i, level in enumerate(levels):
        if "#" in level and (level != "#" or i != len(levels) - 1):
            raise TopicFilterError(f"'#' must be the whole last level in {topic_filter!r}")
        if "+" in level and level != "+":
            raise TopicFilterError(f"'+' must be a whole level in {topic_filter!r}")
    return topic_filter


def topic_matches(topic_filter: str, topic: str) -> bool:
    """MQTT matching; wildcards in the first level do not match topics starting with `$`."""
    if topic.startswith("$") and topic_filter[:1] in ("+", "#"):
        return False
    filter_levels = topic_filter.split("/")
    topic_levels = topic.split("/")
    for i, level in enumerate(filter_levels):
        if level == "#":
            return True  # also matches the parent level itself ("a/#" matches "a")
        if i >= len(topic_levels):
            return False
        if level != "+" and level != topic_levels[i]:
            return False
    return len(filter_levels) == len(topic_levels)
