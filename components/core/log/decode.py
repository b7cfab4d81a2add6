"""Records from the log's rows: identities from the streams, payloads from the stored bodies,
wall times corrected from the clock epoch's anchor when they were written unsynced."""

from __future__ import annotations

import operator
from collections.abc import Iterable, Sequence
from itertools import repeat
from typing import Any

from components.core.envelope import Record
from components.core.log.epochs import Epochs
from components.core.log.rows import decode_bodies, make_records, payloads_of
from components.core.log.streams import Streams


class Decoder:
    def __init__(self, streams: Streams, epochs: Epochs) -> None:
        self._streams = streams
        self._epochs = epochs

    def rows(self, cls: str, rows: Sequence[Sequence[Any]]) -> list[Record]:
        """Records from table rows (pos, sid, seq, mono_ns, wall_ms, clock, schema, body)."""
        if not rows:
            return []
        _pos, sids, seqs, monos, walls, clocks, schemas, bodies = zip(*rows, strict=True)
        return self.columns(
            cls, len(rows), sids, seqs, monos, walls, clocks, schemas, decode_bodies(bodies)
        )

    def columns(
        self,
        cls: str,
        n: int,
        sids: Sequence[int],
        seqs: Sequence[int],
        monos: Sequence[int],
        walls: Sequence[int],
        clocks: Sequence[int],
        schemas: Sequence[int],
        values: list[Any],
    ) -> list[Record]:
        """Records from the columns of `n` rows, bodies already parsed."""
        by_sid = self._streams.by_sid
        sid_set = set(sids)
        for sid in sid_set:
            if sid not in by_sid:
                self._streams.load(sid)
        devices: Iterable[str]
        streams: Iterable[str]
        if len(sid_set) == 1:  # the usual batch: one stream
            st = by_sid[sids[0]]
            devices, streams = repeat(st.device, n), repeat(st.stream, n)
            payloads = payloads_of(st.fields, values)
        else:
            sts = [by_sid[sid] for sid in sids]
            devices, streams = [st.device for st in sts], [st.stream for st in sts]
            payloads = [
                dict(zip(st.fields or (), v, strict=True)) if type(v) is list else v
                for st, v in zip(sts, values, strict=True)
            ]
        corrected: Iterable[int | None] = repeat(None, n)
        if any(clocks):  # written before the clock synced: correct from the epoch's anchor
            anchors = {epoch: self._epochs.anchor(epoch) for epoch in set(clocks) if epoch}
            corrected = [
                None
                if not epoch or anchors[epoch] is None
                else anchors[epoch].corrected_wall_ms(mono)  # type: ignore[union-attr]
                for epoch, mono in zip(clocks, monos, strict=True)
            ]
        return make_records(
            n,
            device=devices,
            stream=streams,
            seq=seqs,
            cls=repeat(cls, n),
            mono_ns=monos,
            wall_ms=walls,
            clock_synced=map(operator.not_, clocks),
            payload=payloads,
            schema=schemas,
            wall_corrected_ms=corrected,
        )
