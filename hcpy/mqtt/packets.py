"""MQTT PUBLISH packets at QoS 0, framed without paho.

OASIS MQTT 3.1.1 §3.3 and MQTT 5.0 §3.3. Every value an appliance reports
becomes one or two of these. paho's publish() builds each with a
message-info object, a condition variable and a round of callback locks,
and wakes its network thread to write it; the bridge's hot path frames them
here and writes them itself (see `link`). Topic headers are worked out once
per topic: there are only a few hundred. Pure.

The two versions differ, for a QoS 0 PUBLISH, only in MQTT 5's property
length after the topic (§3.3.2.3): a variable byte integer, here always 0,
one byte. It is part of the remembered topic header, so framing for MQTT 5
costs nothing per message.
"""

from __future__ import annotations

from collections.abc import Iterable

from .outgoing import Outgoing

# Protocol levels, as in CONNECT (and as paho numbers them).
MQTT311 = 4
MQTT5 = 5
PUBLISH = 0x30
RETAIN = 0x01
# The remaining length is at most four bytes of seven bits (§2.2.3).
MAX_REMAINING = 268_435_455
# MQTT 5: no properties (a property length of 0).
_NO_PROPERTIES = b"\x00"


class PublishFramer:
    """Frames QoS 0 PUBLISH packets for one protocol level, remembering each topic's encoded header."""

    def __init__(self, level: int = MQTT311) -> None:
        if level not in (MQTT311, MQTT5):
            raise ValueError(f"cannot frame PUBLISH packets for MQTT protocol level {level}")
        self.level = level
        self._tail = _NO_PROPERTIES if level == MQTT5 else b""
        self._heads: dict[str, bytes] = {}

    def frame(self, messages: Iterable[Outgoing]) -> bytes:
        """The packets of `messages`, back to back. Raises ValueError for one too large."""
        out = bytearray()
        heads = self._heads
        for topic, payload, retain in messages:
            head = heads.get(topic)
            if head is None:
                head = heads[topic] = _topic_head(topic) + self._tail
            body = payload.encode("utf-8")
            remaining = len(head) + len(body)
            if remaining < 0x80:
                out += bytes((PUBLISH | RETAIN if retain else PUBLISH, remaining))
            else:
                out += _fixed_header(PUBLISH | RETAIN if retain else PUBLISH, remaining)
            out += head
            out += body
        return bytes(out)


def _topic_head(topic: str) -> bytes:
    encoded = topic.encode("utf-8")
    if len(encoded) > 0xFFFF:
        raise ValueError(f"topic of {len(encoded)} bytes is longer than MQTT allows")
    return len(encoded).to_bytes(2, "big") + encoded


def _fixed_header(first: int, remaining: int) -> bytes:
    if remaining > MAX_REMAINING:
        raise ValueError(f"message of {remaining} bytes is larger than MQTT allows")
    out = bytearray((first,))
    while remaining > 0x7F:
        out.append((remaining & 0x7F) | 0x80)
        remaining >>= 7
    out.append(remaining)
    return bytes(out)
