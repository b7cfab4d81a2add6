"""A Greengrass Stream Manager for edge_sim: the real SDK's protocol, streams on disk, Kinesis
export to a pluggable sink."""

from .kinesis import (
    KinesisSink,
    LocalDirKinesis,
    MemoryKinesis,
    PutResult,
    SinkError,
    SinkUnavailable,
    read_records,
)
from .server import StreamManagerServer

__all__ = [
    "KinesisSink",
    "LocalDirKinesis",
    "MemoryKinesis",
    "PutResult",
    "SinkError",
    "SinkUnavailable",
    "StreamManagerServer",
    "read_records",
]
