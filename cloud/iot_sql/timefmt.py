"""The Joda-Time pattern subset that parse_time() needs, formatted with the standard library.

Supported letters: G y Y M d D E a h H k K m s S z Z and quoted literals ('at', '' for a
quote). Other letters make the pattern unsupported (None), never a wrong answer.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Final

_MONTHS: Final = ("January", "February", "March", "April", "May", "June", "July", "August",
                  "September", "October", "November", "December")  # fmt: skip
_DAYS: Final = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_LETTERS: Final = frozenset("GyYMdDEahHkKmsSzZ")
_EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _zone(name: str) -> dt.tzinfo | None:
    if name.upper() in ("UTC", "Z", "GMT"):
        return dt.UTC
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return None


def _offset(moment: dt.datetime, colon: bool) -> str:
    delta = moment.utcoffset() or dt.timedelta(0)
    minutes = int(delta.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    hours, mins = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}:{mins:02d}" if colon else f"{sign}{hours:02d}{mins:02d}"


def _field(letter: str, count: int, moment: dt.datetime, zone_name: str) -> str | None:
    text = count >= 4
    if letter == "G":
        return "AD" if moment.year > 0 else "BC"
    if letter in "yY":
        return f"{moment.year % 100:02d}" if count == 2 else str(moment.year).zfill(count)
    if letter == "M":
        if count >= 3:
            name = _MONTHS[moment.month - 1]
            return name if text else name[:3]
        return str(moment.month).zfill(count)
    if letter == "E":
        name = _DAYS[moment.weekday()]
        return name if text else name[:3]
    if letter == "a":
        return "AM" if moment.hour < 12 else "PM"
    numbers = {
        "d": moment.day,
        "D": moment.timetuple().tm_yday,
        "H": moment.hour,
        "k": moment.hour or 24,
        "K": moment.hour % 12,
        "h": (moment.hour % 12) or 12,
        "m": moment.minute,
        "s": moment.second,
    }
    if letter in numbers:
        return str(numbers[letter]).zfill(count)
    if letter == "S":
        return f"{moment.microsecond // 1000:03d}"[:count].ljust(count, "0")
    if letter == "Z":
        return zone_name if count >= 3 else _offset(moment, colon=count == 2)
    if letter == "z":
        return zone_name if text else (moment.tzname() or zone_name)
    return None


def format_joda(pattern: str, epoch_ms: int, zone_name: str = "UTC") -> str | None:
    """`epoch_ms` formatted by a Joda pattern in `zone_name`; None if either is unsupported."""
    zone = _zone(zone_name)
    if zone is None:
        return None
    try:
        moment = (_EPOCH + dt.timedelta(milliseconds=epoch_ms)).astimezone(zone)
    except (OverflowError, OSError, ValueError):
        return None
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "'":
            end = pattern.find("'", i + 1)
            if end == -1:
                return None
            out.append("'" if end == i + 1 else pattern[i + 1 : end])
            i = end + 1
        elif ch.isascii() and ch.isalpha():
            if ch not in _LETTERS:
                return None
            j = i
            while j < n and pattern[j] == ch:
                j += 1
            value = _field(ch, j - i, moment, zone_name)
            if value is None:
                return None
            out.append(value)
            i = j
        else:
            out.append(ch)
            i += 1
    return "".join(out)
