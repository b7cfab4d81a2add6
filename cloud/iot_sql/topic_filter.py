"""MQTT topic filters as the FROM clause uses them: `+` one level, `#` the rest."""

from __future__ import annotations


class TopicFilterError(ValueError):
    pass


def validate_filter(topic_filter: str) -> str:
    if not topic_filter:
        raise TopicFilterError("the topic filter is empty")
    levels = topic_filter.split("/")
    for position, level in enumerate(levels):
        if "#" in level and (level != "#" or position != len(levels) - 1):
            raise TopicFilterError(f"'#' must be a whole last level in {topic_filter!r}")
        if "+" in level and level != "+":
            raise TopicFilterError(f"'+' must be a whole level in {topic_filter!r}")
    return topic_filter


def topic_matches(topic_filter: str, topic: str) -> bool:
    """MQTT matching; wildcards at the first level never match topics starting with `$`."""
    if topic.startswith("$") and topic_filter[:1] in ("+", "#"):
        return False
    filter_levels = topic_filter.split("/")
    topic_levels = topic.split("/")
    for position, pattern in enumerate(filter_levels):
        if pattern == "#":
            return True  # also matches the parent level itself ("a/#" matches "a")
        if position >= len(topic_levels):
            return False
        if pattern != "+" and pattern != topic_levels[position]:
            return False
    return len(filter_levels) == len(topic_levels)
