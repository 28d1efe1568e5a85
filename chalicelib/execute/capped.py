"""Byte sinks with a cap: keep the first N bytes of a stream, count and drop the rest.

Function output is read in chunks into these, never with `communicate()`, so a function that
prints hundreds of megabytes costs the worker at most the cap.
"""

from __future__ import annotations

TRUNCATION_LINE = "\n-----max log size {limit} bytes exceeded, truncating log-----\n"


class CappedBuffer:
    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._data = bytearray()
        self.dropped = 0

    @property
    def overflowed(self) -> bool:
        return self.dropped > 0

    def write(self, chunk: bytes) -> None:
        room = self._limit - len(self._data)
        if room > 0:
            self._data += chunk[:room]
        self.dropped += max(0, len(chunk) - max(room, 0))

    def getvalue(self) -> bytes:
        return bytes(self._data)


def capped_log(buffer: CappedBuffer, limit: int) -> bytes:
    """The log as Fn stored it: cut at the limit, with the truncation line appended once."""
    if not buffer.overflowed:
        return buffer.getvalue()
    return buffer.getvalue() + TRUNCATION_LINE.format(limit=limit).encode()
